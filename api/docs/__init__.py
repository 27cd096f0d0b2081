"""The documentation the API serves: the spec documents, Swagger UI and Redoc."""
