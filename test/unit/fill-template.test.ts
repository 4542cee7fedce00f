/**
 * The refusal body's placeholders (contract section 5): a string that is only
 * a placeholder becomes the value itself (a JSON number for numbers); one
 * embedded in text becomes text; an unknown one stays as written.
 */
import { describe, expect, it } from "vitest";
import { fillTemplate, retryAfterSeconds } from "../../src/http/refusal";

const values = {
  retry_after: 412,
  limit: 200,
  remaining: 0,
  reset: 1_740_009_412,
  window: "15 minutes",
  policy: "transfers-15m",
  rule: "transfers",
};

describe("fillTemplate", () => {
  it("turns a whole-string placeholder into a JSON number", () => {
    const out = fillTemplate(
      { retry_after: "{{retry_after}}", limit: "{{limit}}", remaining: "{{remaining}}", reset: "{{reset}}" },
      values,
    );
    expect(out).toEqual({ retry_after: 412, limit: 200, remaining: 0, reset: 1_740_009_412 });
    expect(JSON.stringify(out)).toBe('{"retry_after":412,"limit":200,"remaining":0,"reset":1740009412}');
  });

  it("tolerates spaces inside the braces", () => {
    expect(fillTemplate("{{ limit }}", values)).toBe(200);
    expect(fillTemplate("at most {{ limit }}", values)).toBe("at most 200");
  });

  it("turns a whole-string placeholder with a text value into that text", () => {
    expect(fillTemplate({ window: "{{window}}", policy: "{{policy}}", rule: "{{rule}}" }, values)).toEqual({
      window: "15 minutes",
      policy: "transfers-15m",
      rule: "transfers",
    });
  });

  it("writes embedded placeholders as text", () => {
    expect(
      fillTemplate(
        "You have exceeded the maximum number of requests allowed ({{limit}} requests per {{window}}). Please try again later.",
        values,
      ),
    ).toBe(
      "You have exceeded the maximum number of requests allowed (200 requests per 15 minutes). Please try again later.",
    );
    expect(fillTemplate("{{limit}}{{remaining}}", values)).toBe("2000");
    expect(fillTemplate(" {{limit}}", values)).toBe(" 200");
  });

  it("leaves unknown placeholders as written", () => {
    expect(fillTemplate("{{tenant}}", values)).toBe("{{tenant}}");
    expect(fillTemplate("limit {{limit}}, tenant {{tenant}}", values)).toBe("limit 200, tenant {{tenant}}");
    expect(fillTemplate("{{LIMIT}}", values)).toBe("{{LIMIT}}");
    expect(fillTemplate("{{limit}", values)).toBe("{{limit}");
    expect(fillTemplate("{limit}", values)).toBe("{limit}");
  });

  it("fills nested objects and arrays and leaves other values alone", () => {
    const template = {
      success: false,
      code: "RATE_LIMIT_EXCEEDED",
      count: 3,
      nothing: null,
      details: { limit: "{{limit}}", tags: ["{{rule}}", "per {{window}}", 7, true] },
    };
    expect(fillTemplate(template, values)).toEqual({
      success: false,
      code: "RATE_LIMIT_EXCEEDED",
      count: 3,
      nothing: null,
      details: { limit: 200, tags: ["transfers", "per 15 minutes", 7, true] },
    });
  });

  it("does not change the template", () => {
    const template = { limit: "{{limit}}", list: ["{{rule}}"] };
    fillTemplate(template, values);
    expect(template).toEqual({ limit: "{{limit}}", list: ["{{rule}}"] });
  });
});

describe("retryAfterSeconds", () => {
  it("is whole seconds, rounded up, at least 1", () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1000)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(retryAfterSeconds(59_999)).toBe(60);
  });
});
