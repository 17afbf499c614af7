"""Global tables are detected from DescribeTable (moto does not model replicas)."""

from __future__ import annotations

from openai_agents_session.tables import replica_warning

# The shape of a DescribeTable ``Table`` for a global table (version 2019.11.21).
GLOBAL = {
    "TableName": "agent_sessions",
    "Replicas": [
        {"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"},
        {"RegionName": "us-east-1", "ReplicaStatus": "ACTIVE"},
    ],
}


def test_a_table_with_replicas_gets_the_one_region_rule() -> None:
    warning = replica_warning(GLOBAL)
    assert warning is not None
    assert "eu-west-1, us-east-1" in warning and "one region" in warning


def test_a_regional_table_gets_no_warning() -> None:
    assert replica_warning({"TableName": "agent_sessions"}) is None
    assert replica_warning({"TableName": "agent_sessions", "Replicas": []}) is None
