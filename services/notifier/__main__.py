from services.notifier.app import create_app

runtime, app = create_app()
runtime.run(app)
