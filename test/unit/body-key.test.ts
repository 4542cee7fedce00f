/**
 * Reading a body-field key the way origins read bodies: every reading an
 * origin might make, and "unreadable" whenever they could disagree.
 */
import { describe, expect, it } from "vitest";
import { bodyKeyValue, parseBody } from "../../src/http/body-key";

const key = (text: string, type: string, path = ["email"]) => bodyKeyValue(parseBody(text, type), path);

describe("bodyKeyValue(parseBody(...))", () => {
  it.each([
    ["application/json", '{"email":"a@x.test"}'],
    ["application/problem+json", '{"email":"a@x.test"}'],
    ["text/plain", '{"email":"a@x.test"}'],
    ["", '{"email":"a@x.test"}'],
    ["application/json, text/plain", '{"email":"a@x.test"}'],
    ["application/x-www-form-urlencoded", "email=a%40x.test&password=g"],
    ["application/x-www-form-urlencoded; charset=utf-8", "password=g&email=a@x.test"],
    ["text/plain", "email=a@x.test"],
    ["application/x-www-form-urlencoded", "email[]=a@x.test"],
    [
      'multipart/form-data; boundary="b1"',
      '--b1\r\nContent-Disposition: form-data; name="email"\r\n\r\na@x.test\r\n--b1--\r\n',
    ],
  ])("%j: %s gives the value", (type, text) => {
    expect(key(text, type)).toEqual({ kind: "value", value: "a@x.test" });
  });

  it("reaches into nested JSON and nested form names", () => {
    expect(key('{"user":{"email":"a@x.test"}}', "application/json", ["user", "email"])).toEqual({
      kind: "value",
      value: "a@x.test",
    });
    expect(key("user[email]=a@x.test", "application/x-www-form-urlencoded", ["user", "email"])).toEqual({
      kind: "value",
      value: "a@x.test",
    });
    expect(key('{"user":{"email":"a"},"user":{"email":"b"}}', "application/json", ["user", "email"]).kind).toBe(
      "unreadable",
    );
  });

  it.each([
    ["application/x-www-form-urlencoded", "email=decoy&email=victim"],
    ["application/x-www-form-urlencoded", "email=decoy&email[]=victim"],
    ["application/json", '{"email":"decoy","email":"victim"}'],
    ["application/json", '{"email":["a","b"]}'],
    ["application/json", '{"email":{"$ne":null}}'],
    ["application/json", "email=a@x.test"],
    ["application/json", '{"email":"a@x.test"'],
    ["application/json", `${"[".repeat(100)}${"]".repeat(100)}`],
    ["text/plain", '{"email":"a@x.test","x":"&email=b@x.test"}'],
    ["multipart/form-data; boundary=b1", "--b1\r\nno headers here"],
    [
      "multipart/form-data; boundary=b1",
      '--b1\r\nContent-Disposition: form-data; name="email"\r\n\r\na\r\n--b1\r\nContent-Disposition: form-data; name="email"\r\n\r\nb\r\n--b1--',
    ],
  ])("%j: %s is unreadable", (type, text) => {
    expect(key(text, type).kind).toBe("unreadable");
  });

  it.each([
    ["application/json", '{"name":"x"}'],
    ["application/json", '{"email":null}'],
    ["application/json", '{"email":""}'],
    ["application/x-www-form-urlencoded", "name=x"],
    ["text/plain", "hello"],
  ])("%j: %s lacks the field", (type, text) => {
    expect(key(text, type)).toEqual({ kind: "absent" });
  });

  it("takes one value given twice in two spellings as one value", () => {
    expect(key("email=A@x.test&email=a@x.test", "application/x-www-form-urlencoded")).toEqual({
      kind: "value",
      value: "A@x.test",
    });
  });

  it("reads numbers and booleans as their JSON text", () => {
    expect(key('{"email":12}', "application/json")).toEqual({ kind: "value", value: "12" });
    expect(key('{"email":true}', "application/json")).toEqual({ kind: "value", value: "true" });
  });
});
