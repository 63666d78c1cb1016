"""Static cards of captured posts: what a post showed, kept when the post is gone.

content.py reads a manifest into what a card shows (escaped nowhere, checked everywhere); html_card.py
renders the HTML card and the article's iframe from templates/; png_card.py draws the PNG card, with
text laid out by textlayout.py, in fonts chosen by fonts.py for the scripts found by scripts.py;
write.py stores both cards beside the manifest.
"""
