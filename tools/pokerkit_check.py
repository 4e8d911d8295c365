#!/usr/bin/env python3
"""Replay chipsim hand histories through PokerKit 0.7.7 and compare final stacks exactly.

Reads JSON lines (the format of `chipsim hands`, of tools/fixtures/pokerkit-hands.jsonl and of
tools/make_pokerkit_fixture.py):
  {"stacks":[...], "blinds":[sb,bb], "ante":a, "min_bet":bb,
   "actions":["d dh p1 AhKd", "d burn 5c", "d db 3d8c9s", "p3 cbr 10", "p1 f", "p2 cc", ...],
   "final_stacks":[...]}
Players are in PokerKit's position order (index 0 = first seat left of the button, heads-up the
big blind; the last index is the button). `pN` is player index N-1.

Every action goes through PokerKit's own verifying operation (deal_hole, burn_card, deal_board,
fold, check_or_call, complete_bet_or_raise_to) after checking that the named player is the one
PokerKit expects to act or be dealt to. Warnings are errors (PokerKit warns, rather than raises,
on e.g. a card dealt twice or a fold when checking is free in cash games). The hand-history
loader is never used: it silently repairs sequences.

Prints `N hands, M mismatches` and exits 1 on any mismatch, illegal action or unfinished hand.
"""

import argparse
import json
import sys
import warnings

from pokerkit import Automation, Mode, NoLimitTexasHoldem

AUTOMATIONS = (
    Automation.ANTE_POSTING,
    Automation.BET_COLLECTION,
    Automation.BLIND_OR_STRADDLE_POSTING,
    Automation.HOLE_CARDS_SHOWING_OR_MUCKING,
    Automation.HAND_KILLING,
    Automation.CHIPS_PUSHING,
    Automation.CHIPS_PULLING,
)


class HandError(Exception):
    """An action PokerKit refuses, or a hand that does not end where the history says."""


def new_state(hand):
    sb, bb = hand["blinds"]
    stacks = hand["stacks"]
    return NoLimitTexasHoldem.create_state(
        AUTOMATIONS,
        True,  # ante trimming on: antes form side pots like bets; an excess nobody matched is returned
        hand["ante"],
        (sb, bb),
        hand["min_bet"],
        tuple(stacks),
        len(stacks),
        mode=Mode.TOURNAMENT,
    )


def player_index(token, count):
    if not token.startswith("p") or not token[1:].isdigit():
        raise HandError(f"bad player token {token!r}")
    index = int(token[1:]) - 1
    if not 0 <= index < count:
        raise HandError(f"player {token} out of range for {count} players")
    return index


def apply(state, action, count):
    parts = action.split()
    if len(parts) < 2:
        raise HandError(f"malformed action {action!r}")
    if parts[0] == "d":
        if parts[1] == "dh" and len(parts) == 4:
            index = player_index(parts[2], count)
            if state.hole_dealee_index != index:
                raise HandError(f"{action!r}: PokerKit deals to p{(state.hole_dealee_index or -1) + 1}")
            state.deal_hole(parts[3])
        elif parts[1] == "db" and len(parts) == 3:
            state.deal_board(parts[2])
        elif parts[1] == "burn" and len(parts) == 3:
            state.burn_card(parts[2])
        else:
            raise HandError(f"malformed dealer action {action!r}")
        return
    index = player_index(parts[0], count)
    if state.actor_index != index:
        actor = "nobody" if state.actor_index is None else f"p{state.actor_index + 1}"
        raise HandError(f"{action!r} out of turn: {actor} is to act")
    if parts[1] == "f" and len(parts) == 2:
        state.fold()
    elif parts[1] == "cc" and len(parts) == 2:
        state.check_or_call()
    elif parts[1] == "cbr" and len(parts) == 3 and parts[2].isdigit():
        state.complete_bet_or_raise_to(int(parts[2]))
    else:
        raise HandError(f"malformed player action {action!r}")


def check_hand(hand):
    """Return None if PokerKit agrees with the hand, else a one-line reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return _check_hand(hand)
    except (HandError, ValueError, UserWarning, KeyError, TypeError) as error:
        return str(error)


def _check_hand(hand):
    if True:
        state = new_state(hand)
        count = len(hand["stacks"])
        for position, action in enumerate(hand["actions"]):
            try:
                apply(state, action, count)
            except (ValueError, UserWarning) as error:
                raise HandError(f"action {position} {action!r} rejected: {error}") from error
        if state.status:
            raise HandError("hand not finished after the last action")
        final = list(state.stacks)
        if final != hand["final_stacks"]:
            return f"final stacks differ: pokerkit {final}, file {hand['final_stacks']}"
        return None


def _streams(paths):
    if not paths:
        yield sys.stdin
    for path in paths:
        with open(path, encoding="utf-8") as stream:
            yield stream


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", help="JSON-lines files (default: stdin)")
    parser.add_argument("--quiet", action="store_true", help="only print the summary line")
    args = parser.parse_args(argv)
    hands = mismatches = 0
    for stream in _streams(args.files):
        for line_number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            hands += 1
            try:
                hand = json.loads(line)
                reason = check_hand(hand)
            except json.JSONDecodeError as error:
                reason = f"not JSON: {error}"
            if reason is not None:
                mismatches += 1
                if not args.quiet:
                    name = getattr(stream, "name", "<stdin>")
                    print(f"{name}:{line_number}: {reason}", file=sys.stderr)
    print(f"{hands} hands, {mismatches} mismatches")
    return 1 if mismatches or hands == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
