"""The words a shopper's question is read in: phrase and synonym tables, a catalog's own category words, and the cut
of a question into units (a word, a known phrase, a measure) that :mod:`catalog.query_understanding` reasons over.

Entries are lower case and nouns singular (:func:`singular` is applied before lookup); a space in a phrase also matches
a hyphen. Lists are written ``"a|b|c"`` and tables ``"key|key = value/alternative; ..."`` so they read at a glance.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split("|") if item.strip())


def _table(text: str) -> dict[str, str]:
    """``"a|b = x; c = y"`` -> ``{"a": "x", "b": "x", "c": "y"}``; a key without ``=`` stands for itself."""
    table: dict[str, str] = {}
    for entry in filter(str.strip, text.split(";")):
        keys, _, value = entry.partition("=")
        table.update({key: value.strip() or key for key in _list(keys)})
    return table


def phrases(choices: tuple[str, ...] | frozenset[str] | dict[str, str]) -> str:
    """A regex alternation of the phrases, longest first; a space also matches a hyphen."""
    ordered = sorted(set(choices), key=len, reverse=True)
    return "|".join(re.escape(choice).replace("\\ ", " ").replace(" ", r"[\s-]") for choice in ordered)


# --- Prices and sorting -------------------------------------------------------------------------------------------

UPPER_BOUND_WORDS = _list(
    "under|below|beneath|less than|lower than|cheaper than|no more than|not more than|nothing more than|"
    "no higher than|not over|not above|nothing over|nothing above|at most|at the most|max|max.|maximum|max of|"
    "maximum of|up to|within"
) + tuple(
    f"{lead}{article}budget{tail}"
    for lead in ("", "within ", "on ", "with ", "under ")
    for article in ("", "a ", "my ", "the ", "our ")
    for tail in ("", " of", " is", " was")
)
# "from" is a lower bound only with a currency ("from $1000").
LOWER_BOUND_WORDS = _list(
    "over|above|more than|greater than|higher than|upwards of|at least|min|min.|minimum|min of|minimum of|"
    "starting at|starting from|starts at|from"
)
# After an amount: "200 or under" counts as it is; "$80 max" and "$50+" need a currency.
UPPER_AFTER_WORDS = _list("or less|or under|or below|or lower|or cheaper|and under|and below|and less")
UPPER_AFTER_CURRENCY_WORDS = _list("max|maximum|tops|at most|at the most")
LOWER_AFTER_WORDS = _list("or more|or over|or above|or higher|and up|and above|and over|and upwards")
LOWER_AFTER_CURRENCY_WORDS = _list("min|minimum|plus|+")
BOUND_LEADS = _list("for|priced|costing|costs|that costs|which costs")  # go with the bound: "for less than 90"
CURRENCY_BEFORE = _list("$|€|£|us$|usd|eur|gbp")
CURRENCY_AFTER = _list("$|€|£|dollars|dollar|bucks|usd|euros|euro|eur|gbp|quid")
# After a number these make it a measure or a count, not a price. "pounds" is weight; "£"/"quid"/"gbp" are money.
UNIT_WORDS = frozenset(
    _list(
        "cm|mm|m|metre|metres|meter|meters|km|mi|mile|miles|ft|foot|feet|inch|inches|l|litre|litres|liter|liters|"
        "ltr|ml|kg|kgs|kilo|kilos|g|gram|grams|lb|lbs|oz|ounce|ounces|pound|pounds|w|watt|watts|lumen|lumens|lm|mah|"
        "v|volt|volts|person|persons|people|man|season|seasons|year|years|yr|yrs|day|days|night|nights|hour|hours|"
        "hr|hrs|minute|minutes|mins|degree|degrees|speed|speeds|x|pc|pcs|piece|pieces|percent|item|items|pair|pairs|"
        "set|sets|unit|units|pack|packs"
    )
)
# Explicit superlatives and comparatives only: "cheap", "affordable", "budget", "inexpensive" describe the product.
SORT_ASCENDING = _list(
    "cheapest to most expensive|cheapest to priciest|least expensive to most expensive|price low to high|"
    "prices low to high|low to high|sorted by price|sort by price|ordered by price|order by price|by price ascending|"
    "price ascending|cheapest possible|cheapest|least expensive|least costly|least pricey|lowest priced|"
    "lowest prices|lowest price|lowest costing|lowest cost|most affordable|cheaper|less expensive|lower priced|"
    "more affordable|costs the least|cost the least|costs least"
)
SORT_DESCENDING = _list(
    "most expensive to cheapest|most expensive to least expensive|price high to low|prices high to low|high to low|"
    "sorted by price descending|sort by price descending|by price descending|price descending|most expensive|"
    "priciest|pricier|highest priced|highest prices|highest price|highest cost|most premium|most costly|"
    "top of the range|top of the line|dearest|more expensive|higher priced|costs the most|cost the most|costs most"
)

# --- Categories ---------------------------------------------------------------------------------------------------

# Question words -> the words category names use, in order of preference: the first alternative whose last word heads
# a category of the catalog at hand wins ("lamp" is "Lights" in one catalog, "Headlamps & Lanterns" in another).
# Words a catalog already uses ("tent", "fork", "gloves") need no entry.
CATEGORY_SYNONYMS: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {
    tuple(key.split()): tuple(tuple(choice.split()) for choice in value.split("/"))
    for key, value in _table(
        "bicycle|cycle = bike; mtb = mountain bike; tyre = tire; inner tube = tube; lamp = light/lantern/headlamp;"
        "headlight|torch|flashlight = light/headlamp; tail light = light; water bottle = bottle; lid = helmet;"
        "seat = saddle; bar|handle bar = handlebar; shirt|t shirt|top = jersey; inflator = pump; mudguard = fender;"
        "carrier = rack; workstand|work stand|repair stand = stand; degreaser = cleaner; camelbak = hydration pack;"
        "bib = bib short;"
        "legging = tight; gilet = vest; hat = cap; mitt = glove; rim|wheelset = wheel; crank|chainset = crankset;"
        "mech = derailleur; bb = bottom bracket; pack = backpack/pack; rucksack|daypack = backpack;"
        "sleeping mat|mat = sleeping pad; pot|pan|dutch oven = cookware; burner = stove; head torch = headlamp;"
        "headtorch = headlamp; raincoat|rain shell|waterproof jacket = rain jacket;"
        "puffy|puffer|down jacket = insulated jacket; trail runner|runner|running shoe = trail shoe; sneaker = shoe;"
        "purifier = water filter; whetstone|sharpener|sharpening stone = knife care;"
        "coffee|grinder|french press|dripper|pour over|thermos = coffee gear; mug = mug/coffee gear;"
        "throw blanket = blanket; hiking pole|walking pole = trekking pole; chair|table = furniture;"
        "first aid|first aid kit = safety; icebox|ice box|cool box|esky|cool bag = cooler;"
        "bidon = bottle; blinky|rear light|front light = light; casquette = cap; cagoule|anorak = rain jacket;"
        "frameset = frame; drop|drop bar|drops = handlebar; saddlebag = pannier; steering bearing = headset;"
        "walking stick|hiking stick = trekking pole; flask = thermos/coffee gear; pant|trouser = tight;"
        "bibshort = bib short; shelter = tent; cooker = stove; holder|bottle holder = cage; headgear = helmet;"
        "hydration backpack|hydration bladder = hydration pack; derailer = derailleur; rain coat = rain jacket"
    ).items()
}
# Nouns that name products even where the catalog has no such category: the word before them is a modifier
# ("frame bag"), and a number before them a count ("two bikes"), not a price.
KNOWN_NOUNS = frozenset(
    {choice[-1] for choices in CATEGORY_SYNONYMS.values() for choice in choices}
    | set(
        _list(
            "bike|frame|fork|brake|chain|pedal|headset|saddle|helmet|light|lock|pump|fender|rack|stand|pannier|"
            "cleaner|short|tight|vest|cap|sock|glove|jersey|wheel|handlebar|crankset|derailleur|bracket|bottle|cage|"
            "tire|tube|tent|bag|pad|stove|lantern|headlamp|jacket|boot|shoe|filter|knife|blanket|pole|cooler|"
            "backpack|kayak|motor|bell|basket"
        )
    )
)
GENERIC_HEADS = frozenset(_list("gear|care|accessory|equipment|kit|set|supply|stuff|product"))  # need a modifier

# --- Attributes, counts, negation ---------------------------------------------------------------------------------

COLOURS = _list(
    "black|white|red|blue|yellow|silver|green|grey|orange|pink|purple|brown|navy|beige|gold|olive|teal|khaki|maroon|"
    "burgundy|multi"
)
# Words that change which product is right: colours; spelled-out sizes; gender; season; weather protection; weight
# class; power; material; and the discipline, wheel position and LL/ML/HL lines that tell otherwise identical
# Cosmic Works products apart.
ATTRIBUTE_WORDS = {colour: colour for colour in COLOURS} | _table(
    "gray = grey; multicolour|multicolor|multicoloured|multicolored = multi; small; medium; large; xs = size:xs;"
    "xxs = size:xxs; xl = size:xl; xxl|2xl = size:xxl; xxxl|3xl = size:xxxl;"
    "women|woman|womens|lady|ladies|female = women; men|mens|male|gent|gents = men;"
    "kid|kids|child|children|childrens|youth|junior|boy|girl = kids; unisex; summer; winter; waterproof;"
    "weatherproof; insulated; ultralight; rechargeable; electric; carbon; titanium; steel; wool; merino = wool;"
    "aluminium|aluminum = aluminium; road; mountain; touring; front; rear; ll = grade:ll; ml = grade:ml; hl = grade:hl"
)
ATTRIBUTE_PHRASES = {
    tuple(key.split()): value
    for key, value in _table(
        "all season = all-season; 3 season|three season = 3-season; 4 season|four season = 4-season;"
        "extra large|x large = size:xl; extra small = size:xs; short sleeve = short-sleeve; long sleeve = long-sleeve;"
        "full finger = full-finger; half finger = half-finger; water proof = waterproof;"
        "water resistant = water-resistant; ultra light = ultralight;"
        "multi colour|multi color|multi coloured|multi colored = multi"
    ).items()
} | {(shade, colour): colour for shade in ("light", "dark", "bright", "pale") for colour in COLOURS}
MEASURE_UNITS = _table(
    "l|ltr|litre|litres|liter|liters = l; kg|kgs|kilo|kilos = kg; g|gram|grams = g; lb|lbs = lb;"
    "oz|ounce|ounces = oz; inch|inches = in; w|watt|watts = w; lm|lumen|lumens = lm; mile|miles = mi; ml; mm; km; mah"
)
SIZES = _table(
    "small = s; medium = m; large = l; extra large|extra-large = xl; extra small|extra-small = xs;2xl = xxl; 3xl = xxxl"
)
NUMBER_WORDS = {
    word: number
    for number, word in enumerate(_list("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"), start=1)
}
COUNT_NOUNS = frozenset(_list("person|people|man|item|piece|pair|unit|set|one|pc"))
NEGATIONS = frozenset(
    _list(
        "not|no|without|non|except|excluding|never|neither|nor|isn't|isnt|aren't|arent|doesn't|doesnt|don't|dont|"
        "didn't|didnt|won't|wont|wasn't|weren't|shouldn't|mustn't"
    )
)
NEGATION_PAIRS = frozenset({("other", "than"), ("anything", "but"), ("rather", "than"), ("instead", "of")})
# Skipped between a negation and what it negates ("doesn't need to be waterproof", "without a motor").
NEGATION_SKIPS = frozenset(
    _list(
        "a|an|the|any|too|very|so|really|that|this|it|them|be|been|being|to|have|has|having|had|with|for|of|in|made|"
        "need|needs|want|wants|include|includes|including|come|comes|contain|contains|use|uses|using|get|got|require|"
        "requires|like|is|are|was|my|your|anything|something|necessarily"
    )
)
JOINERS = frozenset({"or", "nor"})
FUNCTION_WORDS = frozenset(
    _list(
        "a|an|the|and|or|but|if|then|than|so|as|of|to|in|on|at|by|for|with|from|into|about|up|down|out|off|over|"
        "under|again|i|me|my|we|us|our|you|your|he|she|it|its|they|them|their|this|that|these|those|which|what|who|"
        "whom|whose|where|when|why|how|is|are|was|were|be|been|being|am|do|does|did|have|has|had|can|could|would|"
        "should|will|shall|may|might|must|please|thanks|thank|show|find|get|give|tell|list|see|need|want|looking|"
        "look|search|buy|sell|carry|stock|offer|there|here|any|some|all|every|each|one|ones|something|anything|"
        "everything|thing|things|more|most|less|least|very|too|just|only|also|really|sure|certain|know|mind|care|"
        "think|matter|worry|like|good|best|great|nice|hi|hello|hey|ok|okay|yes|s|it's|what's|i'm|i'd|you've|got|"
        "other|else|much|many|price|priced|cost"
    )
)

# A clause that opens like this asks whether the shop has something; one with this anywhere asks for a list.
YES_NO_QUESTION = re.compile(
    r"(?:(?:hi|hello|hey|so|and|also|ok|okay|well|um|please) )?"
    r"(?:(?:do|does|did) (?:you|u|ya|y'all|you guys|they|(?:the|this|your) (?:shop|store)) (?:\w+ )?"
    r"(?:sell|have|carry|stock|offer|make|ship|got)\b|(?:does|do) (?:the|this|your) (?:shop|store)\b"
    r"|(?:is|are) there\b|(?:can|could|may) (?:i|we) (?:\w+ )?(?:buy|get|find|order|purchase)\b"
    r"|have you (?:\w+ )?got\b|(?:is|are) .{0,60}?\b(?:available|in stock)\b)",
    re.IGNORECASE,
)
LIST_QUESTION = re.compile(
    r"\b(?:show|list|give) (?:me )?(?:all|every)\b|\blist (?:all|every|your|the)\b|\ball (?:of )?(?:the|your)\b"
    r"|\bwhat (?:kinds?|types?|sorts?|options) of\b|\b(?:what|which) (?:\w+ ){0,2}do you (?:have|sell|carry|stock)\b",
    re.IGNORECASE,
)

# --- A catalog's own words ----------------------------------------------------------------------------------------

WORD = re.compile(r"[^\W_]++(?:['’][^\W_]++)?")


def singular(word: str) -> str:
    """The singular of a lower-case English noun, by rule ("knives" -> "knife", "accessories" -> "accessory")."""
    if word in ("knives", "men", "women", "children", "people", "series", "feet"):
        return {"knives": "knife", "feet": "foot"}.get(word, word)
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("ss", "us", "is", "'s")):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word[:-2] if word.endswith(("ches", "shes", "sses", "xes", "zes")) else word[:-1]


@dataclass(frozen=True)
class Category:
    """A category name cut into singular words: "Components, Road Frames" -> leaf {road, frame}, head frame."""

    name: str
    leaf: frozenset[str]
    heads: frozenset[str]  # the last word of each part of the leaf ("Tires and Tubes": tire, tube)
    group: frozenset[str]


@dataclass(frozen=True)
class CatalogWords:
    """The words of a catalog's category names, and how question words map onto them."""

    categories: tuple[Category, ...]
    heads: frozenset[str]
    words: frozenset[str]  # any word that may belong to a product noun phrase
    nouns: frozenset[str]  # words that name products: heads and known product nouns
    leaf_phrases: frozenset[tuple[str, ...]]
    spelling: dict[str, str] = field(compare=False)  # singular -> as the catalog spells it ("light" -> "lights")

    def choose(self, alternatives: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
        """The first synonym alternative this catalog has a category for, else the first."""
        return next((nouns for nouns in alternatives if nouns[-1] in self.heads), alternatives[0])

    def noun(self, word: str) -> str:
        """A question word as the noun category names would use."""
        synonyms = CATEGORY_SYNONYMS.get((singular(word),))
        return self.choose(synonyms)[-1] if synonyms else singular(word)

    def spelled(self, nouns: tuple[str, ...]) -> str:
        """Nouns as the catalog spells them ("light" -> "lights"), for the negated list."""
        return " ".join(self.spelling.get(noun, noun) for noun in nouns)


@functools.lru_cache(maxsize=32)
def catalog_words(names: tuple[str, ...]) -> CatalogWords:
    """The words of category names of the form "Group, Leaf" (a name without a comma is all leaf)."""
    categories: list[Category] = []
    leaf_phrases: set[tuple[str, ...]] = set()
    spelling: dict[str, str] = {}
    for name in dict.fromkeys(names):
        group, _, leaf = name.rpartition(",")
        leaf_words: set[str] = set()
        heads: set[str] = set()
        for part in re.split(r"\s(?:and|&)\s|[&/]", leaf, flags=re.IGNORECASE):
            written = [word.lower() for word in WORD.findall(part)]
            part_words = tuple(singular(word) for word in written)
            for word, spelled in zip(part_words, written, strict=True):
                if spelling.get(word, word) == word:  # keep the plural the catalog uses
                    spelling[word] = spelled
            if part_words:
                leaf_words.update(part_words)
                heads.add(part_words[-1])
                leaf_phrases.update({part_words} if 1 < len(part_words) <= 3 else set())
        group_words = frozenset(singular(word.lower()) for word in WORD.findall(group))
        categories.append(Category(name, frozenset(leaf_words), frozenset(heads), group_words))
    all_heads = frozenset(head for category in categories for head in category.heads)
    named = {word for category in categories for word in category.leaf | category.group}
    return CatalogWords(
        tuple(categories),
        all_heads,
        frozenset(named | all_heads | KNOWN_NOUNS),
        all_heads | KNOWN_NOUNS,
        frozenset(leaf_phrases),
        spelling,
    )


# --- The question's units -----------------------------------------------------------------------------------------

_MEASURE = re.compile(
    r"\b(?:size|sz) ?[:=]? ?(?P<size>[0-9]{1,3}(?:\.5)?|x{0,3}[sl]|m|[2-4]xl|small|medium|large|extra[ -](?:large|"
    r"small))\b|(?<![\w.,])(?P<cm>[0-9]{1,3}) ?-?cm\b"
    rf"|(?<![\w.,])(?P<amount>[0-9]{{1,4}}(?:\.[0-9]{{1,2}})?) ?-?(?P<unit>{phrases(MEASURE_UNITS)})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Unit:
    """One thing the question says (a word, a known phrase, a measure) and what it means."""

    index: int
    word: str
    joined: bool  # only a space or a hyphen separates it from the unit before
    attributes: tuple[str, ...] = ()
    nouns: tuple[str, ...] = ()  # singular words category names would use
    label: str = ""  # how it is listed when negated
    number: int | None = None


def read_units(clean: str, blocked: bytearray, catalog: CatalogWords) -> list[Unit]:
    """The question's words outside ``blocked`` offsets (prices, sort words, identifiers), cut into units."""
    measures = {}
    for match in _MEASURE.finditer(clean):
        if blocked.find(1, *match.span()) == -1:
            if match.group("size"):
                measures[match.start()] = match.end(), "size:" + SIZES.get(match["size"].lower(), match["size"].lower())
            elif match.group("cm"):
                measures[match.start()] = match.end(), f"size:{int(match['cm'])}"
            else:
                measures[match.start()] = (
                    match.end(),
                    f"{float(match['amount']):g}{MEASURE_UNITS[match['unit'].lower()]}",
                )
    tokens: list[tuple[int, str, bool]] = []  # start, word, joined
    previous_end = -1
    for match in WORD.finditer(clean):
        if blocked.find(1, *match.span()) == -1:
            gap = clean[previous_end : match.start()] if previous_end >= 0 else "."
            word = match.group().lower().replace("’", "'").removesuffix("'s")
            tokens.append((match.start(), word, gap.strip(" -") == "" and gap.count("-") <= 1))
            previous_end = match.end()
    units: list[Unit] = []
    i = 0
    while i < len(tokens):
        start, _, joined = tokens[i]
        if start in measures:
            end, value = measures[start]
            last = i
            while last + 1 < len(tokens) and tokens[last + 1][0] < end:
                last += 1
            unit = Unit(len(units), value, joined, (value,), (), value)
        else:
            last, unit = _phrase_unit(tokens, i, len(units), catalog)
        units.append(unit)
        i = last + 1
    return units


def _phrase_unit(tokens: list[tuple[int, str, bool]], i: int, index: int, catalog: CatalogWords) -> tuple[int, Unit]:
    """The longest known phrase starting at token ``i`` (the word alone after "non-"), and the last token it uses."""
    joined = tokens[i][2]
    for size in (3, 2) if not (i and tokens[i - 1][1] == "non") else ():
        span = tokens[i : i + size]
        if len(span) < size or not all(token[2] for token in span[1:]):
            continue
        written = tuple(token[1] for token in span)
        key = tuple(singular(word) for word in written)
        attribute = ATTRIBUTE_PHRASES.get(written) or ATTRIBUTE_PHRASES.get(key)
        if attribute:
            return i + size - 1, Unit(index, " ".join(written), joined, (attribute,), (), attribute)
        synonyms = CATEGORY_SYNONYMS.get(key) or CATEGORY_SYNONYMS.get(written)
        nouns = catalog.choose(synonyms) if synonyms else key if key in catalog.leaf_phrases else None
        if nouns:
            found = tuple(dict.fromkeys(ATTRIBUTE_WORDS[word] for word in written if word in ATTRIBUTE_WORDS))
            return i + size - 1, Unit(index, " ".join(written), joined, found, nouns, catalog.spelled(nouns))
    word = tokens[i][1]
    number = int(word) if word.isascii() and word.isdigit() and len(word) <= 4 else NUMBER_WORDS.get(word)
    attribute = ATTRIBUTE_WORDS.get(word) or ATTRIBUTE_WORDS.get(singular(word))
    synonyms = CATEGORY_SYNONYMS.get((singular(word),)) or CATEGORY_SYNONYMS.get((word,))
    nouns = catalog.choose(synonyms) if synonyms else (singular(word),)
    label = attribute or (catalog.spelled(nouns) if any(noun in catalog.words for noun in nouns) else nouns[-1])
    return i, Unit(index, word, joined, (attribute,) if attribute else (), nouns, label, number)
