"""Agents: the self-correcting code agent (and, later, the tool-using agent)."""

from nativa.agent.code_agent import CodeAgent
from nativa.agent.result import AgentResult, Attempt

__all__ = ["AgentResult", "Attempt", "CodeAgent"]
