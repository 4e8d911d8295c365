"""Tests of the PokerKit checker itself: a checker that cannot fail proves nothing.

Run: python3 -m unittest discover -s tools
"""

import io
import json
import os
import unittest
from contextlib import redirect_stderr, redirect_stdout

import pokerkit_check

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "pokerkit-hands.jsonl")

GOOD = {
    "stacks": [17, 568, 1448, 16], "blinds": [5, 10], "ante": 0, "min_bet": 10,
    "actions": ["d dh p1 6s8c", "d dh p2 7d8h", "d dh p3 5c6c", "d dh p4 3hKh", "p3 cc", "p4 f",
                "p1 cbr 17", "p2 cc", "p3 cbr 27", "p2 cbr 37", "p3 cbr 1448", "p2 f",
                "d burn Tc", "d db 5dJh8s", "d burn 2d", "d db 5h", "d burn Js", "d db 8d"],
    "final_stacks": [51, 531, 1451, 16],
}


def variant(**changes):
    hand = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        hand[key] = value
    return hand


def with_action(index, text):
    actions = list(GOOD["actions"])
    actions[index] = text
    return variant(actions=actions)


class CheckHand(unittest.TestCase):
    def test_a_correct_hand_passes(self):
        self.assertIsNone(pokerkit_check.check_hand(GOOD))

    def test_wrong_final_stack_is_reported(self):
        reason = pokerkit_check.check_hand(variant(final_stacks=[52, 530, 1451, 16]))
        self.assertIn("final stacks differ", reason)

    def test_illegal_raise_is_reported(self):
        # p1 may raise all-in to 17 at least; 12 is below the minimum.
        self.assertIn("rejected", pokerkit_check.check_hand(with_action(6, "p1 cbr 12")))

    def test_duplicate_hole_card_is_reported(self):
        self.assertIsNotNone(pokerkit_check.check_hand(with_action(1, "d dh p2 6s8h")))

    def test_duplicate_board_card_is_reported(self):
        self.assertIsNotNone(pokerkit_check.check_hand(with_action(13, "d db 6sJh8s")))

    def test_burning_a_dealt_card_is_reported(self):
        self.assertIsNotNone(pokerkit_check.check_hand(with_action(12, "d burn 6s")))

    def test_out_of_turn_action_is_reported(self):
        self.assertIn("out of turn", pokerkit_check.check_hand(with_action(4, "p4 cc")))

    def test_fold_when_check_is_free_is_reported(self):
        hand = variant(stacks=[100, 100], blinds=[5, 10], actions=[
            "d dh p1 AhAd", "d dh p2 KhKd", "p2 cc", "p1 f"], final_stacks=[110, 90])
        self.assertIsNotNone(pokerkit_check.check_hand(hand))

    def test_unfinished_hand_is_reported(self):
        hand = variant(actions=GOOD["actions"][:-2])
        self.assertIsNotNone(pokerkit_check.check_hand(hand))


class Main(unittest.TestCase):
    def run_main(self, lines):
        path = os.path.join(os.path.dirname(__file__), f"_test_{os.getpid()}.jsonl")
        with open(path, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        try:
            stdout, stderr = io.StringIO(), io.StringIO()
            with redirect_stdout(stdout), redirect_stderr(stderr):
                code = pokerkit_check.main([path])
            return code, stdout.getvalue().strip()
        finally:
            os.remove(path)

    def test_summary_line_and_exit_codes(self):
        good = json.dumps(GOOD)
        self.assertEqual(self.run_main([good, good]), (0, "2 hands, 0 mismatches"))
        bad = json.dumps(variant(final_stacks=[0, 0, 0, 0]))
        self.assertEqual(self.run_main([good, bad, "not json"]), (1, "3 hands, 2 mismatches"))

    def test_pokerkit_agrees_with_its_own_fixture(self):
        with open(FIXTURE, encoding="utf-8") as stream:
            for number, line in enumerate(stream, 1):
                self.assertIsNone(pokerkit_check.check_hand(json.loads(line)), f"fixture line {number}")


if __name__ == "__main__":
    unittest.main()
