"""Container names: Docker's validation rule and its random `adjective_surname` names."""

from __future__ import annotations

import random
import re

from dockyard.errors import InvalidArgument

_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_LEFT = (
    "admiring", "adoring", "affectionate", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful",
    "bold", "boring", "brave", "busy", "charming", "clever", "compassionate", "competent", "condescending",
    "confident", "cool", "cranky", "crazy", "dazzling", "determined", "distracted", "dreamy", "eager",
    "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent", "festive",
    "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great",
    "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent",
    "interesting", "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest",
    "musing", "mystifying", "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic",
    "peaceful", "pedantic", "pensive", "practical", "priceless", "quirky", "quizzical", "recursing",
    "relaxed", "reverent", "romantic", "sad", "serene", "sharp", "silly", "sleepy", "stoic", "strange",
    "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat", "vibrant",
    "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen",
)
_RIGHT = (
    "agnesi", "albattani", "allen", "almeida", "archimedes", "ardinghelli", "aryabhata", "austin", "babbage",
    "banach", "bardeen", "bartik", "bassi", "bell", "benz", "bhabha", "bhaskara", "blackwell", "bohr", "booth",
    "borg", "bose", "boyd", "brahmagupta", "brattain", "brown", "carson", "cerf", "chandrasekhar", "clarke",
    "curie", "darwin", "davinci", "dijkstra", "dirac", "einstein", "elion", "engelbart", "euclid", "euler",
    "faraday", "fermat", "fermi", "feynman", "franklin", "galileo", "gates", "goldberg", "goldstine",
    "goodall", "hamilton", "hawking", "heisenberg", "hermann", "hodgkin", "hoover", "hopper", "hypatia",
    "jackson", "jang", "jennings", "jepsen", "johnson", "joliot", "kalam", "kapitsa", "keller", "kepler",
    "khorana", "kilby", "knuth", "kowalevski", "lalande", "lamarr", "lamport", "leakey", "leavitt", "lewin",
    "lovelace", "lumiere", "mahavira", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "minsky",
    "mirzakhani", "morse", "murdock", "napier", "newton", "nobel", "noether", "pare", "pascal", "pasteur",
    "payne", "perlman", "pike", "poincare", "ptolemy", "raman", "ramanujan", "ride", "ritchie", "roentgen",
    "rosalind", "saha", "sammet", "shannon", "shaw", "shockley", "sinoussi", "snyder", "spence", "stonebraker",
    "sutherland", "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira", "volhard", "wescoff",
    "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
)


def validate(name: str) -> str:
    """The name with Docker's leading "/"; InvalidArgument with Docker's message if it is malformed."""
    if not _VALID.match(name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name if name.startswith("/") else "/" + name


def random_name(taken: set[str], rng: random.Random | None = None) -> str:
    """Docker's `names-generator`: "adjective_surname", a digit appended after a clash."""
    rng = rng or random.Random()
    for attempt in range(20):
        name = f"{rng.choice(_LEFT)}_{rng.choice(_RIGHT)}"
        if attempt > 0:
            name += str(rng.randint(0, 9))
        if "/" + name not in taken and name != "boring_wozniak":  # Steve Wozniak is not boring
            return name
    return f"dockyard_{rng.getrandbits(48):012x}"
