-- How a call arrived when not as plain HTTP: "mcp" for the MCP endpoint.

ALTER TABLE audit ADD COLUMN via TEXT;
