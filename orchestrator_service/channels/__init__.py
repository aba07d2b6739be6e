"""Omnichannel connectors: WhatsApp Business Cloud API, and Instagram and Facebook Messenger
through the Messenger Platform; inbound deliveries run the answering agent, replies go out
through the Graph API."""
