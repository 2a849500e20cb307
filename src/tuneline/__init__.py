"""tuneline: scheduled, reviewed QLoRA fine-tuning of open LLMs on a company's Q/A data."""

__version__ = "0.1.0"
