"""`python -m bench.tokenize [--quick]`: the tokenization issue's combined benchmark (bytes, proxy, BPE)."""
from bench.tokenization_all import main

if __name__ == "__main__":
    main()
