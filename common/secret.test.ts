import { describe, expect, it } from "vitest";
import { SECRET_MIN_LENGTH, secretProblem } from "./secret.ts";

describe("secretProblem", () => {
  it("takes a random hex secret of 32 characters", () => {
    expect(secretProblem("5f0c3e1a9b7d4c2e8f6a1b3d5c7e9f0a")).toBeUndefined();
  });

  it.each([
    ["", "the secret is 0 characters"],
    ["hunter2hunter2", "the secret is 14 characters"],
    ["0123456789abcdef0123456789abcde", "the secret is 31 characters"],
    ["x".repeat(64), "only 1 different characters"],
    ["abcabcab".repeat(4), "only 3 different characters"],
  ])("refuses %j: %s", (secret, words) => {
    const p = secretProblem(secret);
    expect(p).toContain(words);
    expect(p).toContain(`at least ${SECRET_MIN_LENGTH} characters`);
    if (secret) expect(p).not.toContain(secret);
  });
});
