"""The Model Context Protocol door at `/mcp`: the tenant's tools, knowledge and prompts for any
MCP client, over the streamable HTTP transport of the official `mcp` SDK."""
