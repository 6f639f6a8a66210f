"""Write the small sample of Amazon Customer Reviews-shaped data that ships with the repo.

    python examples/make_sample.py [--rows N] [--out PATH]

The columns are the public dataset's TSV schema (tab-separated, a header row, no
quoting); the reviews are made up from a fixed vocabulary with a seeded generator, so
every run writes the same bytes. The word count runs on it locally; the tests check
the committed file is exactly what this script writes.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

COLUMNS = (
    "marketplace",
    "customer_id",
    "review_id",
    "product_id",
    "product_parent",
    "product_title",
    "product_category",
    "star_rating",
    "helpful_votes",
    "total_votes",
    "vine",
    "verified_purchase",
    "review_headline",
    "review_body",
    "review_date",
)
DEFAULT_ROWS = 3000
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "amazon_reviews_sample.tsv"
SEED = 20201104

CATEGORIES = ("Books", "Electronics", "Kitchen", "Toys", "Outdoors", "Music", "Apparel", "Home")
MARKETPLACES = ("US", "US", "US", "UK", "DE")
NOUNS = (
    "book", "story", "author", "battery", "screen", "cable", "charger", "pan", "knife", "blender",
    "toy", "puzzle", "tent", "jacket", "album", "song", "shirt", "lamp", "pillow", "gift",
    "price", "quality", "size", "color", "delivery", "package", "product", "item", "kids", "daughter",
)
ADJECTIVES = (
    "great", "good", "nice", "bad", "cheap", "sturdy", "flimsy", "beautiful", "perfect", "awful",
    "comfortable", "loud", "bright", "small", "large", "easy", "hard", "fast", "slow", "excellent",
)
VERBS = ("love", "like", "hate", "bought", "returned", "recommend", "used", "received", "ordered", "gave")
FILLER = (
    "the", "the", "the", "and", "and", "a", "a", "it", "it", "is", "is", "was", "this", "i", "i", "to",
    "for", "of", "my", "with", "but", "very", "not", "so", "in", "on", "after", "two", "weeks",
)
CONTRACTIONS = ("don't", "it's", "i'm", "didn't", "won't", "can't", "wasn't", "i've")
HEADLINES = ("Five Stars", "Great value", "Not worth it", "Works as described", "Disappointed", "Love it!")


def _sentence(rng: random.Random) -> str:
    words: list[str] = []
    for _ in range(rng.randint(4, 14)):
        pick = rng.random()
        if pick < 0.45:
            words.append(rng.choice(FILLER))
        elif pick < 0.65:
            words.append(rng.choice(NOUNS))
        elif pick < 0.82:
            words.append(rng.choice(ADJECTIVES))
        elif pick < 0.94:
            words.append(rng.choice(VERBS))
        elif pick < 0.98:
            words.append(rng.choice(CONTRACTIONS))
        else:
            words.append(str(rng.randint(1, 30)))
    text = " ".join(words)
    text = text[0].upper() + text[1:]
    if rng.random() < 0.1:
        # Emphasis and quotes as customers write them; the dataset keeps quotes unescaped.
        text = text.replace(" great", " GREAT").replace(" love", ' "love"')
    return text + rng.choice((".", ".", ".", "!", "?", "..."))


def review_body(rng: random.Random) -> str:
    if rng.random() < 0.01:
        return ""  # some reviews have no text
    sentences = [_sentence(rng) for _ in range(rng.randint(1, 3))]
    # The real dataset carries HTML line breaks inside review text.
    separator = " <br />" if rng.random() < 0.15 else " "
    return separator.join(sentences)


def rows(count: int) -> list[list[str]]:
    rng = random.Random(SEED)
    table = []
    for index in range(count):
        votes = rng.randint(0, 20)
        table.append(
            [
                rng.choice(MARKETPLACES),
                str(rng.randint(10_000, 53_000_000)),
                "R" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(13)),
                "B00" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(7)),
                str(rng.randint(100_000, 999_999_999)),
                f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS).title()} {index % 97}",
                rng.choice(CATEGORIES),
                str(rng.choice((1, 2, 3, 4, 5, 5, 5, 4))),
                str(rng.randint(0, votes)),
                str(votes),
                "N" if rng.random() < 0.97 else "Y",
                "Y" if rng.random() < 0.8 else "N",
                rng.choice(HEADLINES),
                review_body(rng),
                f"2015-{rng.randint(1, 8):02d}-{rng.randint(1, 28):02d}",
            ]
        )
    return table


def render(count: int) -> str:
    lines = ["\t".join(COLUMNS)] + ["\t".join(row) for row in rows(count)]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.rows < 1:
        print("make_sample: --rows must be at least 1", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(args.rows), encoding="utf-8", newline="\n")
    print(f"wrote {args.rows} reviews to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
