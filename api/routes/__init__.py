"""The API's routes, a module-level router per concern; api/app.py includes them."""
