"""The memory benchmarks' data, written for this project: facts about people, questions that paraphrase them,
and long conversations that state facts early and ask about them at the end.

Each attribute has a fact sentence and question sentences written to share as few words as possible with
it (besides the person's name, which every fact of that person shares), so a keyword search finds the
person but has to guess which of their ten facts is meant. Everything is generated from fixed seeds, so the
same sets come back on every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# attribute: (fact about {n}, questions about {n}, first-person fact, first-person question, values)
ATTRIBUTES: dict[str, tuple[str, tuple[str, str], str, str, tuple[str, ...]]] = {
    "dog": ("{n}'s dog is called {v}.", ("What name did {n} give the puppy?", "How is {n}'s pet hound named?"),
            "By the way, my dog is called {v}.", "What name did I give my puppy?",
            ("Biscuit", "Pepper", "Mango", "Ziggy", "Nutmeg", "Waffles", "Juniper", "Rocket", "Tofu", "Bramble")),
    "city": ("{n} lives in {v}.", ("Which town is home for {n}?", "Where has {n} made a residence?"),
             "I live in {v}, in case that matters.", "Which town is my home?",
             ("Lisbon", "Oslo", "Tucson", "Porto", "Leeds", "Graz", "Quebec", "Nagoya", "Perth", "Bergen")),
    "job": ("{n} works as a {v}.", ("What is {n}'s profession?", "How does {n} earn a living?"),
            "I work as a {v}.", "What is my profession?",
            ("dentist", "pilot", "carpenter", "librarian", "geologist", "florist", "plumber", "translator",
             "paramedic", "locksmith")),
    "instrument": ("{n} plays the {v}.", ("Which musical instrument does {n} perform on?",
                                          "What does {n} make music with?"),
                   "I play the {v} in a band.", "Which musical instrument do I perform on?",
                   ("cello", "trombone", "banjo", "oboe", "harp", "accordion", "ukulele", "bassoon", "sitar",
                    "xylophone")),
    "car": ("{n} drives a {v}.", ("What vehicle does {n} own?", "Which automobile is parked at {n}'s place?"),
            "I drive a {v}.", "What vehicle do I own?",
            ("Volvo", "Subaru", "Fiat", "Tesla", "Skoda", "Mazda", "Peugeot", "Jeep", "Saab", "Lada")),
    "meal": ("{n}'s favourite meal is {v}.", ("What does {n} like eating most?", ("Which dish would {n} pick for "
                                               "dinner?")),
             "My favourite meal is {v}.", "What do I like eating most?",
             ("lasagne", "ramen", "paella", "goulash", "falafel", "risotto", "moussaka", "pierogi", "tacos",
              "biryani")),
    "allergy": ("{n} is allergic to {v}.", ("What must {n} avoid because of a bad reaction?",
                                            "Which substance makes {n} sneeze or swell?"),
                "I'm allergic to {v}.", "What must I avoid because of a bad reaction?",
                ("peanuts", "penicillin", "shellfish", "pollen", "latex", "sesame", "wasps", "cats", "dust",
                 "strawberries")),
    "birth": ("{n} was born in {v}.", ("In which month does {n} celebrate a birthday?",
                                       "When is {n}'s birthday party held?"),
              "I was born in {v}.", "In which month do I celebrate my birthday?",
              ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October")),
    "sport": ("{n} goes {v} every weekend.", ("Which hobby fills {n}'s Saturdays?",
                                              "What activity keeps {n} busy on days off?"),
              "I go {v} every weekend.", "Which hobby fills my Saturdays?",
              ("climbing", "surfing", "cycling", "sailing", "skiing", "rowing", "fencing", "bowling", "kayaking",
               "skating")),
    "language": ("{n} speaks fluent {v}.", ("Which foreign tongue has {n} mastered?",
                                            "What language could {n} interpret?"),
                 "I speak fluent {v}.", "Which foreign tongue have I mastered?",
                 ("Finnish", "Swahili", "Korean", "Greek", "Dutch", "Turkish", "Polish", "Hindi", "Icelandic",
                  "Basque")),
    "sister": ("{n} has a sister named {v}.", ("Who is {n}'s female sibling?", ("What is the name of {n}'s "
                                               "sibling girl?")),
               "My sister is named {v}.", "Who is my female sibling?",
               ("Greta", "Imogen", "Priya", "Lucia", "Freya", "Noor", "Beatrix", "Ottilie", "Marisol", "Dagny")),
    "drink": ("{n} drinks {v} every morning.", ("What beverage does {n} start the day with?",
                                                "Which cup does {n} have at breakfast?"),
              "I drink {v} every morning.", "What beverage do I start the day with?",
              ("matcha", "espresso", "kombucha", "chai", "cocoa", "kefir", "rooibos", "lemonade", "mate",
               "horchata")),
    "colour": ("{n} painted the kitchen {v}.", ("What colour are the walls where {n} cooks?",
                                                "Which shade did {n} pick for the room with the stove?"),
               "I painted my kitchen {v}.", "What colour are the walls where I cook?",
               ("turquoise", "mustard", "lilac", "crimson", "olive", "coral", "navy", "peach", "teal", "ivory")),
    "employer": ("{n} is employed by {v}.", ("Which company pays {n}'s salary?", "Who is {n}'s boss firm?"),
                 "I am employed by {v}.", "Which company pays my salary?",
                 ("Acme Robotics", "Blue Harbor", "Northwind", "Globex", "Initech", "Umbrella Labs", "Vandelay",
                  "Hooli", "Stark Foods", "Wonka Mills")),
    "school": ("{n} studied at {v}.", ("Where did {n} go to university?", "Which college gave {n} a degree?"),
               "I studied at {v}.", "Where did I go to university?",
               ("Harvard", "Uppsala", "Bologna", "Heidelberg", "McGill", "Kyoto", "Leiden", "Coimbra", "Otago",
                "Salamanca")),
    "holiday": ("{n} spent last summer in {v}.", ("Where did {n} travel on vacation?",
                                                  "Which country did {n} visit on the last trip away?"),
                "I spent last summer in {v}.", "Where did I travel on vacation?",
                ("Peru", "Vietnam", "Morocco", "Iceland", "Chile", "Georgia", "Namibia", "Laos", "Albania",
                 "Mongolia")),
    "fear": ("{n} is afraid of {v}.", ("What frightens {n}?", "What gives {n} the creeps?"),
             "I'm afraid of {v}.", "What frightens me?",
             ("spiders", "heights", "clowns", "thunder", "needles", "snakes", "elevators", "crowds", "sharks",
              "bats")),
    "garden": ("{n} grows {v} in the garden.", ("Which plants does {n} cultivate outdoors?",
                                                "What crop comes up in {n}'s yard?"),
               "I grow {v} in my garden.", "Which plants do I cultivate outdoors?",
               ("tomatoes", "tulips", "pumpkins", "lavender", "rhubarb", "sunflowers", "chillies", "roses",
                "courgettes", "basil")),
    "club": ("{n} supports {v}.", ("Which football club does {n} cheer for?", ("What team do {n}'s scarves "
                                   "belong to?")),
             "I support {v} at football.", "Which football club do I cheer for?",
             ("Arsenal", "Benfica", "Ajax", "Celtic", "Napoli", "Boca Juniors", "Galatasaray", "Feyenoord",
              "Sevilla", "Rapid Wien")),
    "commute": ("{n} gets to the office by {v}.", ("How does {n} travel to work?", ("What transport takes {n} "
                                                   "to the job?")),
                "I get to the office by {v}.", "How do I travel to work?",
                ("tram", "ferry", "scooter", "bicycle", "train", "bus", "motorbike", "skateboard", "carpool",
                 "cable car")),
    "wake": ("{n} wakes up at {v}.", ("What time does {n} get out of bed?", "When is {n}'s alarm set for?"),
             "I wake up at {v} each day.", "What time do I get out of bed?",
             ("five", "six", "seven", "eight", "nine", "half past five", "half past six", "quarter to seven",
              "ten", "noon")),
    "film": ("{n}'s favourite film is {v}.", ("Which movie does {n} rewatch most?", ("What picture would {n} "
                                              "stream again and again?")),
             "My favourite film is {v}.", "Which movie do I rewatch most?",
             ("Casablanca", "Alien", "Amelie", "Jaws", "Vertigo", "Heat", "Ran", "Up", "Rocky", "Brazil")),
    "locker": ("{n}'s locker number is {v}.", ("Which cabinet code belongs to {n} at the gym?",
                                               "What digits open {n}'s storage box?"),
               "My locker number is {v}.", "Which cabinet code is mine at the gym?",
               ("113", "247", "358", "462", "519", "634", "781", "826", "905", "970")),
    "bird": ("{n} keeps a parrot named {v}.", ("What is {n}'s talking bird called?",
                                               "How did {n} name the feathered companion?"),
             "I keep a parrot named {v}.", "What is my talking bird called?",
             ("Kiwi", "Captain", "Sunny", "Pickles", "Echo", "Rio", "Nugget", "Polly", "Zazu", "Mojo")),
    "novel": ("{n}'s favourite book is {v}.", ("Which novel does {n} love reading?", ("What story would {n} "
                                               "recommend from the shelf?")),
              "My favourite book is {v}.", "Which novel do I love reading?",
              ("Dune", "Emma", "Ulysses", "Beloved", "Middlemarch", "Solaris", "Rebecca", "Ivanhoe", "Kindred",
               "Siddhartha")),
}

NAMES = ("Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kemal", "Leila",
         "Mateo", "Nadia", "Oskar", "Paloma", "Quentin", "Rania", "Soren", "Tamsin", "Ugo", "Vera", "Wendell",
         "Ximena", "Yusuf", "Zora", "Anders", "Bianca", "Cyrus", "Delphine", "Emeka", "Fiona", "Gideon", "Hana",
         "Ivo", "Jasmin", "Kofi", "Lorna", "Milos", "Nell", "Orla", "Pavel", "Rosa", "Silas", "Thea", "Umar",
         "Viggo", "Willa", "Yara", "Zeke")


@dataclass(frozen=True, slots=True)
class Fact:
    """One synthetic fact about a person, as the sentence a user would say."""

    id: int
    person: str
    attribute: str
    value: str
    text: str


@dataclass(frozen=True, slots=True)
class Question:
    """A question about one fact, with the answer that counts as right."""

    text: str
    fact_id: int
    answer: str


def facts_and_questions(per_person: int = 10, questions_per_person: int = 4,
                        seed: int = 15) -> tuple[list[Fact], list[Question]]:
    """50 people x 10 facts = 500 facts, and 200 questions paraphrasing four facts of each person."""
    rng = random.Random(seed)
    facts: list[Fact] = []
    questions: list[Question] = []
    for person in NAMES:
        for attribute in rng.sample(sorted(ATTRIBUTES), per_person):
            fact_t, _, _, _, values = ATTRIBUTES[attribute]
            value = rng.choice(values)
            facts.append(Fact(len(facts), person, attribute, value, fact_t.format(n=person, v=value)))
        for fact in rng.sample(facts[-per_person:], questions_per_person):
            template = rng.choice(ATTRIBUTES[fact.attribute][1])
            questions.append(Question(template.format(n=person), fact.id, fact.value))
    return facts, questions


# Small talk that fills a long conversation between the facts: (user, assistant) pairs.
_TOPICS = ("the weather this week", "a recipe for bread", "how trains are scheduled", "the history of maps",
           "why the sky looks blue", "tips for a tidy desk", "a plan for a long walk", "how bees find flowers",
           "the rules of chess openings", "a good way to learn knots", "how tides work", "writing a polite email",
           "why cats purr", "ideas for a rainy afternoon", "how bridges carry weight", ("the life of a lighthouse "
           "keeper"), "keeping houseplants alive", "the best way to fold a map", "how clocks were invented",
           "packing a suitcase well", "why leaves change colour", "making a budget spreadsheet",
           "the origin of board games", "choosing a good pen", "how glass is made", "why onions make you cry")
_ASK = ("Can you tell me a bit about {t}?", "I was wondering about {t}. Any thoughts?",
        "Let's talk about {t} for a moment.", "What do you know about {t}?", "Give me a few notes on {t}.")
_ANSWER = (("Sure. When it comes to {t}, the main thing is to start simple, notice the details, and take one "
           "step at a time; most people find that a little patience and a clear plan go a long way, and the "
           "rest follows from practice and a bit of curiosity about how things fit together."),
           ("Good question. {T} is a topic with a long history: people have looked at it from many angles, "
           "and the usual advice is to keep notes, compare a few sources, and not worry about getting "
           "everything right the first time, since understanding grows with each attempt."),
           ("Here is a short overview of {t}: there are a handful of basic ideas worth knowing, a few common "
           "mistakes to avoid, and some simple habits that make it easier; if you want, we can go deeper "
           "into any of those parts later on."))


@dataclass(frozen=True, slots=True)
class Conversation:
    """Turns (user, assistant) with facts stated in the first turns, and questions about them for the end."""

    name: str
    turns: list[tuple[str, str]]
    questions: list[Question]


def conversations(count: int = 4, facts_each: int = 8, filler_turns: int = 60, seed: int = 15) -> list[Conversation]:
    """`count` conversations; each states `facts_each` facts in its first turns, then `filler_turns` of small talk."""
    rng = random.Random(seed)
    out: list[Conversation] = []
    for c in range(count):
        turns: list[tuple[str, str]] = []
        questions: list[Question] = []
        for i, attribute in enumerate(rng.sample(sorted(ATTRIBUTES), facts_each)):
            _, _, fact_t, question_t, values = ATTRIBUTES[attribute]
            value = rng.choice(values)
            topic = rng.choice(_TOPICS)
            ask = rng.choice(_ASK).format(t=topic)
            turns.append((f"{fact_t.format(v=value)} Anyway, {ask[0].lower()}{ask[1:]}", _answer(rng, topic)))
            questions.append(Question(question_t, i, value))
        for _ in range(filler_turns):
            topic = rng.choice(_TOPICS)
            turns.append((rng.choice(_ASK).format(t=topic), _answer(rng, topic)))
        out.append(Conversation(f"conversation-{c + 1}", turns, questions))
    return out


def _answer(rng: random.Random, topic: str) -> str:
    return rng.choice(_ANSWER).format(t=topic, T=topic[0].upper() + topic[1:])
