"""Publishing what a run made: the Hugging Face Hub (``hub``) and GGUF files for llama.cpp (``gguf``)."""
