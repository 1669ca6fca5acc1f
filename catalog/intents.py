"""What shoppers mean when they describe a problem instead of naming a product ("my bike got nicked" → locks).

A small lexicon of needs, each mapped to the product words a shop files them under. The words are resolved against
the catalog's own category names by the same reading as a question (:func:`catalog.query_understanding.read_query`),
so an entry only ever points at a category the catalog has; a catalog without locks gets no lock intent. Intents
are a soft ranking signal (:class:`catalog.ranking.RankingWeights.intent`), never a filter.

Also here: which words of a question are only *context* ("a light **for my handlebars**": the handlebars say where,
the light is what is wanted), and when a superlative is about the whole catalog ("the cheapest thing you sell").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from catalog.query_understanding import read_query

#: (pattern over the question, the product words it means). Patterns are whole-word, case-insensitive.
NEEDS: tuple[tuple[str, str], ...] = (
    (r"nick(ed)?|stolen|steal|theft|thie(f|ves)|secure (it|my bike)|lock (it|up)", "locks"),
    (r"(put|get) air|inflate|pump (it|them)? ?up|flat tyres?|flat tires?|pressure", "pumps"),
    (r"puncture[sd]?|keeps going flat|inner tube", "tubes"),
    (r"(on|onto|to) (the|my) car|roof of|tow ?bar|hitch|carry .{0,30}bikes", "racks"),
    (r"butt|bum|backside|sit bones|saddle ?sore|sore .{0,20}(ride|riding)|comfortable (seat|ride)", "saddles"),
    (r"legs? .{0,30}cold|cold legs|leggings|long pants|full.length", "tights"),
    (r"stopping power|won'?t stop|takes forever to stop|braking|slow (me )?down", "brakes"),
    (r"shift(s|ing)?|gears? (skip|slip|won'?t)|change gears?", "derailleurs"),
    (r"mud|muddy|spray(ing)?|splash(es|ing)?", "fenders"),
    (r"see .{0,20}(night|dark)|be seen|visib(le|ility)|in the dark", "lights"),
    (r"thirst(y)?|hydrat(e|ion)|drink (while|without|on)", "bottles"),
    (r"degrease|grime|grease|wash (my|the) bike|clean (my|the) (bike|chain|drivetrain)", "cleaners"),
    (r"head safe|protect my head|crash|skull", "helmets"),
    (r"cold ground|ground .{0,20}(cold|through)|insulat\w* from the ground", "sleeping pads"),
    (r"blunt|dull|sharpen\w*|hone", "knife care"),
    (r"keep .{0,25}cold|cold drinks|ice|chilled", "coolers"),
    (r"hot (all day|for hours|drinks?)|keep .{0,25}(hot|warm) .{0,20}(coffee|tea|drinks?)", "coffee gear"),
    (r"knees?|steep downhills?|stabili[sz]e", "trekking poles"),
    (r"sit (around|by|near)|somewhere (comfy|comfortable) to sit|campfire seat", "furniture"),
    (r"blister|cut|injur(y|ed|ies)|emergenc(y|ies)", "safety"),
    (r"(safe|clean) (drinking )?water|purif(y|ier)|stream water|giardia", "water filters"),
    (r"fire (to cook|for cooking)|boil water|cook(ing)? (breakfast|dinner|a meal|food)", "stoves"),
)
_NEEDS = tuple((re.compile(rf"\b(?:{pattern})\b", re.I), words) for pattern, words in NEEDS)

#: "for my handlebars", "on the bike", "of my mountain bike", "for road bikes": a noun phrase after these only says
#: where or what for.
_CONTEXT = re.compile(
    r"\b(?:for|on|of|off|from|onto|behind|under(?:neath)?|to|with|at|in|into)\s+"
    r"(?:(?:my|your|our|the|his|her|their|a|an)\s+(?:[\w'-]+\s+){0,2}?[\w'-]+\s*$|"
    r"(?:my|your|our|his|her|their)\s+(?:[\w'-]+\s+){0,2}[\w'-]+|"
    r"(?:road\s+|mountain\s+|touring\s+)?(?:bikes?|bicycles?)\b)",
    re.I,
)
#: "looking for a french press": what follows these is the thing wanted, not context.
_WANTING = frozenset("looking searching shopping hunting asking ask after need want".split())

#: Words of a question that name no kind of product: a superlative over only these is about the whole catalog.
GENERIC_WORDS = frozenset(
    "a an the thing things item items product products anything something stuff you your we sell sells selling "
    "have has got shop store catalog catalogue whole entire in on of what what's whats which is are do does all "
    "everything overall there here can i buy get find show me cheapest most expensive priciest least lowest "
    "highest price priced costly dearest affordable cost costs".split()
)
_WORD = re.compile(r"[\w']+")


def intent_categories(question: str, categories: Sequence[str]) -> tuple[str, ...]:
    """The catalog categories the question's described needs point at (strongest first, no duplicates)."""
    found: list[str] = []
    for pattern, words in _NEEDS:
        if pattern.search(question):
            reading = read_query(words, categories)
            for name in (reading.category, *reading.category_candidates):
                if name and name not in found:
                    found.append(name)
    return tuple(found)


def without_context(question: str) -> str:
    """``question`` less the phrases that only give context ("for my handlebars", "of my mountain bike")."""
    kept: list[str] = []
    position = 0
    for match in _CONTEXT.finditer(question):
        before = question[: match.start()].split()
        if before and before[-1].lower() in _WANTING:
            continue
        kept.append(question[position : match.start()])
        position = match.end()
    kept.append(question[position:])
    return " ".join(" ".join(kept).split())


def is_whole_catalog(text: str) -> bool:
    """Whether a question's words (sort and price words already removed) name no kind of product at all."""
    words = [word.lower() for word in _WORD.findall(text)]
    return all(word in GENERIC_WORDS for word in words)


_ASKING = re.compile(
    r"^(?:(?:do|does|can|could|would|will)\s+(?:you|i|we|u)\s+(?:guys\s+)?(?:still\s+)?"
    r"(?:sell|have|stock|carry|get|offer|buy|find|order)|have\s+you\s+got|you\s+got|got\s+any|is\s+there|are\s+there|"
    r"i(?:'m|\s+am)\s+looking\s+for|looking\s+for|i\s+(?:need|want|would\s+like)|need|want|show\s+me|find\s+me|"
    r"where\s+can\s+i\s+(?:buy|get|find)|any)\b\s*",
    re.I,
)
_ARTICLES = frozenset("a an the some any one your".split())
#: A noun phrase ends where one of these begins ("a bell | for my handlebars").
_PHRASE_END = frozenset(
    "for with to that which who in on from so when because while under over below above at of by without and or "
    "but rated made like than please i you it is are".split()
)
#: Questions that start like this describe a situation, not a product ("my butt hurts…", "how do I…").
_COLOURS = frozenset("black red silver blue yellow white multi green grey gray orange pink purple".split())
_TRAILING = frozenset("enough too very really please now today online here".split())
_VAGUE = frozenset(
    "something anything somewhere someone way place kind sort type one ones piece bit supplies supply gear kit set "
    "stuff equipment accessories accessory things".split()
)
_SITUATION = frozenset("my i i'm im how what what's whats when where why which it our we should is are can".split())


def head_noun(text: str) -> str | None:
    """The noun a product-naming question is about ("do you sell kayaks?" → "kayaks"; "a bell for my handlebars"
    → "bell"), or ``None`` when the question describes a situation or is too long to tell."""
    rest = text.strip().lower().strip("?!. ")
    while True:
        shorter = _ASKING.sub("", rest, count=1)
        if shorter == rest:
            break
        rest = shorter
    words = _WORD.findall(rest)
    if not words or words[0] in _SITUATION:
        return None
    while words and words[0] in _ARTICLES:
        words.pop(0)
    phrase: list[str] = []
    for word in words:
        if word in _PHRASE_END:
            break
        phrase.append(word)
    # Sizes, model numbers and colours after the noun ("touring 3000 yellow 62cm") name a variant, not the thing.
    while phrase and (phrase[-1] in _TRAILING or phrase[-1] in _COLOURS or any(c.isdigit() for c in phrase[-1])):
        phrase.pop()
    if not 0 < len(phrase) <= 4 or phrase[-1] in GENERIC_WORDS or phrase[-1] in _VAGUE:
        return None
    return phrase[-1]
