"""The `support` example: customer support for Lumio smart lamps, generated deterministically (torch-free).

Lumio is a fictional brand, and every fact below is invented for this example. Questions vary (a
dozen intents, several phrasings each, greetings, sign-offs, product names, order numbers, and
the customer's name); the answers follow one house style: a greeting by the customer's name, a
short answer, the steps or facts of that intent and product, a knowledge-base reference. A base
model cannot guess these facts or this style, so fine-tuning visibly changes both the val loss
and the generations, and the greedy answers of a fine-tuned model can be scored against the
references.

`generate(seed)` returns (train, val) ShareGPT rows; the same seed gives the same bytes, no val
question appears in train, and no val answer does either: train has the facts of every intent
and product (for other customers), so a right val answer is the model's own (the name copied
from the question, the facts and style learned), not a train answer recalled word for word.
"""

from __future__ import annotations

import random

TRAIN_SIZE = 320
VAL_SIZE = 24

PRODUCTS = {
    # name: (reset seconds, blink colour, warranty years, price EUR, power, max brightness lumens)
    "Lumio Mini": (5, "blue", 2, 39, "a USB-C cable (5 W)", 400),
    "Lumio Max": (10, "white", 3, 89, "the included 24 W adapter", 1600),
    "Lumio Strip": (8, "green", 2, 59, "the included 12 W adapter", 900),
    "Lumio Go": (6, "orange", 1, 49, "its built-in battery (12 hours per charge)", 300),
}

GREETINGS = ["", "", "Hi, ", "Hello! ", "Hey, ", "Good morning. ", "Hi there, "]
NAMES = [
    "Anna",
    "Ben",
    "Chloe",
    "David",
    "Emma",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pedro",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Yusuf",
    "Zoe",
]
SIGNOFFS = ["", "", "", " Thanks!", " Thank you.", " Please help.", " Cheers."]


def _answer(intent: str, product: str, slot: str) -> str:
    secs, colour, years, price, power, lumens = PRODUCTS[product]
    if intent == "reset":
        return (
            f"To factory reset your {product}, hold the power button for {secs} seconds until the light "
            f"blinks {colour} three times, then add it again in the Lumio app. (KB-101)"
        )
    if intent == "wifi":
        return (
            f"To connect your {product} to Wi-Fi, open the Lumio app, tap Add device and pick {product}, "
            "then choose a 2.4 GHz network and enter its password. 5 GHz networks are not supported. (KB-102)"
        )
    if intent == "warranty":
        return (
            f"Your {product} has a {years}-year warranty from the date of purchase. Keep your receipt "
            "and contact us with the serial number from the base of the lamp. (KB-103)"
        )
    if intent == "order":
        return (
            f"You can follow order {slot} at lumio.example/track/{slot}. If it has not moved for 5 "
            "working days, reply with the order number and we will open a claim. (KB-104)"
        )
    if intent == "return":
        return (
            f"You can return your {product} within 30 days for a full refund. Start the return at "
            "lumio.example/returns and pack the lamp in its original box. (KB-105)"
        )
    if intent == "price":
        return f"The {product} costs {price} EUR, including VAT and free shipping within the EU. (KB-106)"
    if intent == "power":
        return f"The {product} runs on {power}. Other chargers work if they give at least the same power. (KB-107)"
    if intent == "brightness":
        return (
            f"The {product} gives up to {lumens} lumens. Set the level in the Lumio app or by voice, "
            "from 1 to 100 percent. (KB-108)"
        )
    if intent == "firmware":
        return (
            f"Your {product} updates its firmware by itself at night when it is online. To update now, "
            "open the Lumio app, tap the lamp, then Settings, then Update. (KB-109)"
        )
    if intent == "voice":
        return (
            f"The {product} works with Alexa, Google Home and Apple Home. Link it once in the Lumio app "
            "under Settings, then Voice assistants. (KB-110)"
        )
    if intent == "schedule":
        return (
            f"To set a schedule on your {product}, open the Lumio app, tap the lamp, then Schedules, "
            f"and choose the time, the colour and the days. It keeps up to 10 schedules. (KB-111)"
        )
    if intent == "offline":
        return (
            f"If your {product} shows as offline, switch it off for 10 seconds, then on again. If it stays "
            f"offline, check that your router is on 2.4 GHz, or reset the lamp. (KB-112)"
        )
    raise KeyError(intent)


QUESTIONS = {
    "reset": [
        "how do I factory reset my {p}?",
        "my {p} is acting weird, how can I reset it?",
        "what are the steps to reset a {p} to factory settings?",
        "I want to wipe my {p} and start over. How?",
        "can you tell me how to reset the {p}?",
    ],
    "wifi": [
        "how do I connect my {p} to wifi?",
        "my {p} won't join my Wi-Fi network. What should I do?",
        "what's the way to set up Wi-Fi on the {p}?",
        "can the {p} connect to my home internet? How?",
        "I need help pairing my {p} with the wifi.",
    ],
    "warranty": [
        "how long is the warranty on the {p}?",
        "is my {p} still under warranty?",
        "what warranty comes with a {p}?",
        "my {p} broke, does the warranty cover it?",
        "tell me about the {p} warranty.",
    ],
    "order": [
        "where is my order {o}?",
        "I ordered a {p}, order number {o}, and it hasn't arrived.",
        "can you check the status of order {o}?",
        "my {p} (order {o}) is late. Where is it?",
        "any update on order {o}?",
    ],
    "return": [
        "can I return my {p}?",
        "I don't like my {p}. How do I send it back?",
        "what is your return policy for the {p}?",
        "how do I get a refund for a {p}?",
        "is it possible to return a {p} I bought last week?",
    ],
    "price": [
        "how much does the {p} cost?",
        "what's the price of a {p}?",
        "how much is the {p}?",
        "what would a {p} cost me?",
        "price of the {p} please.",
    ],
    "power": [
        "what power supply does the {p} use?",
        "how is the {p} powered?",
        "what charger do I need for my {p}?",
        "does the {p} need an adapter?",
        "can I use my phone charger with the {p}?",
    ],
    "brightness": [
        "how bright is the {p}?",
        "how many lumens does the {p} have?",
        "can I make my {p} brighter?",
        "what's the maximum brightness of the {p}?",
        "how do I change the brightness on the {p}?",
    ],
    "firmware": [
        "how do I update the firmware on my {p}?",
        "does the {p} get software updates?",
        "my {p} needs an update. How do I do it?",
        "is there a firmware update for the {p}?",
        "how can I check for updates on my {p}?",
    ],
    "voice": [
        "does the {p} work with Alexa?",
        "can I control my {p} with Google Home?",
        "which voice assistants does the {p} support?",
        "will the {p} work with Siri?",
        "how do I use voice control with my {p}?",
    ],
    "schedule": [
        "how do I set a schedule on my {p}?",
        "can the {p} turn on by itself in the morning?",
        "I want my {p} to switch on at 7 pm every day. How?",
        "how do I make a timer for the {p}?",
        "can I program my {p} to change colour at night?",
    ],
    "offline": [
        "my {p} says offline in the app. What now?",
        "the app can't find my {p}.",
        "why is my {p} offline?",
        "my {p} keeps disconnecting. Help?",
        "the {p} shows as unavailable in the Lumio app.",
    ],
}


def _question(rng: random.Random, intent: str, product: str, order: str, name: str) -> str:
    text = rng.choice(QUESTIONS[intent]).format(p=product, o=order)
    greeting = rng.choice(GREETINGS)
    text = greeting + (text if greeting.endswith(", ") else text[0].upper() + text[1:])
    return text + rng.choice(SIGNOFFS) + f" ({name})"


def _row(question: str, answer: str) -> dict:
    return {"conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]}


def generate(seed: int = 0, train_size: int = TRAIN_SIZE, val_size: int = VAL_SIZE) -> tuple[list[dict], list[dict]]:
    """(train, val) rows in ShareGPT form; deterministic for a seed, val questions and answers never in train.

    Val is drawn first, balanced over the intents (round robin), so every intent is scored.
    """
    rng = random.Random(seed)
    intents = sorted(QUESTIONS)
    products = sorted(PRODUCTS)
    seen: set[str] = set()  # questions, and answers once val is drawn: neither is shared by the splits

    def draw(intent: str) -> dict | None:
        product = rng.choice(products)
        order = f"LM-{rng.randint(10000, 99999)}"
        name = rng.choice(NAMES)
        q = _question(rng, intent, product, order, name)
        a = f"Hi {name}! " + _answer(intent, product, order)
        if q in seen or a in seen:
            return None
        seen.add(q)
        return _row(q, a)

    def fill(n: int, start: int) -> list[dict]:
        out: list[dict] = []
        k = start
        tries = 0
        while len(out) < n:
            tries += 1
            if tries > 100 * n:
                raise RuntimeError("example generator: not enough distinct questions")
            row = draw(intents[k % len(intents)])
            if row is not None:
                out.append(row)
                k += 1
        return out

    val = fill(val_size, 0)
    seen.update(r["conversations"][1]["value"] for r in val)  # train answers none of val's
    train = fill(train_size, 0)
    rng.shuffle(train)
    return train, val
