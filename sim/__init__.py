"""gapsim: agent-based simulation of security gaps below Mount Qarachogh."""
