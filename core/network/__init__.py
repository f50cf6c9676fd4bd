"""The network side: device situation (DSI), rate requirements, AI-library tiers, the library and selection."""
