"""The web console under /console: server-rendered pages whose scripts call the service's own
API through a cookie-to-bearer bridge, so every role, scope and tenant rule is the API's."""
