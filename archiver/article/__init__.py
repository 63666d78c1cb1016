"""The article itself: decoding its bytes, splicing stable URLs over spans, and its versions."""
