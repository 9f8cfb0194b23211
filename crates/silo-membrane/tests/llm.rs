//! LLM passthrough tests (filled in by the LLM connector work).
