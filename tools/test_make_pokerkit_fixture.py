"""Tests of the fixture generator: reproducible from its seed, and hands PokerKit accepts.

Run: python3 -m unittest discover -s tools
"""

import json
import os
import subprocess
import sys
import unittest

import make_pokerkit_fixture
import pokerkit_check

SCRIPT = os.path.join(os.path.dirname(__file__), "make_pokerkit_fixture.py")
KEYS = ["stacks", "blinds", "ante", "min_bet", "actions", "final_stacks"]


def run_script(seed, count):
    """The script's stdout, from a fresh interpreter (so with a fresh global `random`)."""
    result = subprocess.run([sys.executable, SCRIPT, "--seed", str(seed), "--count", str(count)],
                            capture_output=True, text=True, check=True)
    return result.stdout


class Generator(unittest.TestCase):
    def test_the_same_seed_gives_the_same_output_in_another_process(self):
        first = run_script(3, 20)
        self.assertEqual(first, run_script(3, 20))
        self.assertNotEqual(first, run_script(4, 20))
        self.assertEqual(len(first.splitlines()), 20)

    def test_a_shorter_run_is_a_prefix_of_a_longer_one(self):
        short = [json.dumps(hand) for hand in make_pokerkit_fixture.generate(5, 3)]
        long = [json.dumps(hand) for hand in make_pokerkit_fixture.generate(5, 10)]
        self.assertEqual(short, long[:3])

    def test_pokerkit_check_accepts_every_generated_hand(self):
        for number, line in enumerate(run_script(11, 30).splitlines(), 1):
            hand = json.loads(line)
            self.assertEqual(list(hand), KEYS, f"hand {number}: keys in the documented order")
            self.assertIsNone(pokerkit_check.check_hand(hand), f"hand {number}")

    def test_a_tampered_hand_is_rejected(self):
        # The check above is not vacuous: move one chip and it fails.
        hand = next(make_pokerkit_fixture.generate(11, 1))
        hand["final_stacks"][0] += 1
        hand["final_stacks"][1] -= 1
        self.assertIn("final stacks differ", pokerkit_check.check_hand(hand))

    def test_the_parameters_stay_in_their_documented_ranges(self):
        for hand in make_pokerkit_fixture.generate(13, 200):
            small, big = hand["blinds"]
            self.assertIn((small, big), make_pokerkit_fixture.BLINDS)
            self.assertTrue(2 <= len(hand["stacks"]) <= 9)
            self.assertIn(hand["ante"], (0, max(1, big // 10)))
            self.assertEqual(hand["min_bet"], big)
            self.assertTrue(all(1 <= stack <= 200 * big for stack in hand["stacks"]))
            self.assertEqual(sum(hand["final_stacks"]), sum(hand["stacks"]), "chips are conserved")


if __name__ == "__main__":
    unittest.main()
