"""flask-restx, extended for the project's conventions.

The Api and Resource base classes, fields, query parsers, body validation and
the serializers compiled from restx models.
"""
