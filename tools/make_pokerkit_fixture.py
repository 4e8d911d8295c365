#!/usr/bin/env python3
"""Generate No-Limit Hold'em hands with PokerKit 0.7.7 itself, as JSON lines on stdout.

    python3 -m pip install pokerkit==0.7.7
    python3 tools/make_pokerkit_fixture.py --seed 1 --count 1000 > hands.jsonl

PokerKit deals every card and decides what is legal; a seeded `random.Random` only picks among
PokerKit's legal options (and orders the deck). The state is set up by `pokerkit_check.new_state`,
so the generator and the checker use the same automations, tournament mode and ante trimming.
Each line has the format `tools/pokerkit_check.py` and `chipsim hands --check` read:
  {"stacks": [...], "blinds": [sb, bb], "ante": a, "min_bet": bb,
   "actions": ["d dh p1 AhKd", ..., "p3 cbr 10", "p1 f", "p2 cc", "d burn 5c", "d db 3d8c9s", ...],
   "final_stacks": [...]}
Players are in PokerKit's position order (index 0 = first seat left of the button, heads-up the
big blind; the last index is the button). Showdown and chip pushing are PokerKit's automations.

The same --seed and --count give the same output, byte for byte (the first N hands of a longer
run are the N hands of a shorter one).
"""

import argparse
import json
import random
import sys
import warnings

from pokerkit_check import new_state

PLAYERS_MIN, PLAYERS_MAX = 2, 9
BLINDS = ((1, 2), (5, 10), (50, 100))
ANTE_PROBABILITY = 1 / 3  # the ante is a tenth of the big blind, at least 1 chip
SHORT_STACK_PROBABILITY = 0.5
SHORT_STACK_BB_MAX = 3  # a short stack has 1 chip to 3 big blinds
DEEP_STACK_BB_MAX = 200  # a deep stack has more than that, up to 200 big blinds
HOLE_CARDS = 2  # Hold'em: both hole cards in one `d dh` action, as in PHH
# Relative weights of the random player's choices, among those PokerKit allows at the time.
WEIGHTS = {"f": 1, "cc": 2, "cbr": 2}


def random_setup(rng):
    """Table parameters: 2-9 players, one of three blind levels, an ante in one hand of three,
    and each stack either short (a fraction of a big blind to 3 big blinds: forced all-ins,
    blinds posted for less) or deep (up to 200 big blinds), with even odds."""
    players = rng.randint(PLAYERS_MIN, PLAYERS_MAX)
    small, big = rng.choice(BLINDS)
    ante = max(1, big // 10) if rng.random() < ANTE_PROBABILITY else 0
    short_max = SHORT_STACK_BB_MAX * big
    stacks = [rng.randint(1, short_max) if rng.random() < SHORT_STACK_PROBABILITY
              else rng.randint(short_max + 1, DEEP_STACK_BB_MAX * big)
              for _ in range(players)]
    return {"stacks": stacks, "blinds": [small, big], "ante": ante, "min_bet": big}


def cards_text(cards):
    return "".join(repr(card) for card in cards)  # repr(Card) is the short form, e.g. "Ah"


def raise_to(state, rng):
    """A legal raise-to amount: the minimum, all-in, or anything in between, each one time in three."""
    low = state.min_completion_betting_or_raising_to_amount
    high = state.max_completion_betting_or_raising_to_amount
    return rng.choice((low, high, rng.randint(low, high)))


def play_hand(rng):
    """One hand: the setup, then PokerKit's dealing and random legal actions until it ends."""
    hand = random_setup(rng)
    state = new_state(hand)
    # PokerKit shuffles with the global `random` module; reorder the deck from our RNG instead,
    # starting from PokerKit's fixed deck order, so the output depends on the seed only.
    deck = list(state.deck)
    rng.shuffle(deck)
    state.deck_cards.clear()
    state.deck_cards.extend(deck)

    actions = []
    while state.status:
        if state.can_deal_hole():
            dealing = state.deal_hole(HOLE_CARDS)  # the top cards of the deck, to the next dealee
            actions.append(f"d dh p{dealing.player_index + 1} {cards_text(dealing.cards)}")
        elif state.can_burn_card():
            actions.append(f"d burn {cards_text([state.burn_card().card])}")
        elif state.can_deal_board():
            actions.append(f"d db {cards_text(state.deal_board().cards)}")
        elif state.actor_index is not None:
            player = f"p{state.actor_index + 1}"
            legal = [kind for kind, allowed in (("f", state.can_fold), ("cc", state.can_check_or_call),
                                                ("cbr", state.can_complete_bet_or_raise_to)) if allowed()]
            kind = rng.choices(legal, weights=[WEIGHTS[k] for k in legal])[0]
            if kind == "f":
                state.fold()
                actions.append(f"{player} f")
            elif kind == "cc":
                state.check_or_call()
                actions.append(f"{player} cc")
            else:
                amount = raise_to(state, rng)
                state.complete_bet_or_raise_to(amount)
                actions.append(f"{player} cbr {amount}")
        else:
            raise RuntimeError(f"PokerKit is waiting for an operation this script does not perform: {state}")
    hand["actions"] = actions
    hand["final_stacks"] = list(state.stacks)
    return hand


def generate(seed, count):
    """The hands of one run, in order; the same seed gives the same hands."""
    rng = random.Random(seed)
    for _ in range(count):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a PokerKit warning would mean a dubious hand
            yield play_hand(rng)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the random play (default 0)")
    parser.add_argument("--count", type=int, default=1000, help="number of hands (default 1000)")
    args = parser.parse_args(argv)
    for hand in generate(args.seed, args.count):
        sys.stdout.write(json.dumps(hand) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
