"""The notifier's pure domain: no broker, database, SMTP or HTTP here.

planning (who gets what, deterministic ids) -> context (render values from the event)
-> templates (+ template_texts, formatting, sms) -> delivery_policy (retry or give up);
masking for everything that reaches events and logs.
"""
