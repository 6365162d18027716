from services.router.app import create_app

runtime, app = create_app()
runtime.run(app)
