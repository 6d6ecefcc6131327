"""speech_tokenizer"""
