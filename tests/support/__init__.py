"""Test support: real DynamoDB endpoints on loopback, a fault-injecting proxy, a scripted model."""
