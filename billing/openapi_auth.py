"""OpenAPI descriptions of billing's authentication schemes (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "billing.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "fmugw_live_... (also accepted as Authorization: Bearer <key>)",
        }


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "billing.authentication.TokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Short-lived token from POST /api/v1/auth/token (EdDSA, see JWKS).",
        }
