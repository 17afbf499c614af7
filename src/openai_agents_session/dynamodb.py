"""The import path of the user's spec: ``openai_agents_session.dynamodb``."""

from .session import DynamoDBSession
from .tables import create_table_if_not_exists

__all__ = ["DynamoDBSession", "create_table_if_not_exists"]
