import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { contentKind } from "./ObjectView";
import { ErrorBox, Pager } from "./common";

afterEach(cleanup);

describe("ErrorBox", () => {
  it("shows the API's error code, detail and context as given", () => {
    const error = new ApiError(
      400,
      {
        detail: "Stage 'set_fields' exists in several routes.",
        error_code: "ambiguous_stage",
        correlation_id: "c",
        timestamp: "t",
        errors: null,
        validation_report: null,
        context: { candidates: ["intake", "review"] },
      },
      "HTTP 400",
    );
    render(<ErrorBox error={error} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("400 ambiguous_stage");
    expect(alert.textContent).toContain("several routes");
    expect(alert.textContent).toContain('"review"');
  });
});

describe("Pager", () => {
  it("pages through 100,000 rows", () => {
    render(<Pager total={100_000} limit={50} offset={50} onChange={() => undefined} />);
    expect(screen.getByText(/Page 2 of 2000 \(100,000 total\)/)).toBeTruthy();
  });
});

describe("contentKind", () => {
  it("picks a renderer from the key and content type", () => {
    expect(contentKind("a/b.json", "application/json")).toBe("json");
    expect(contentKind("a/b.md", "application/octet-stream")).toBe("markdown");
    expect(contentKind("a/b.txt", "text/plain")).toBe("text");
    expect(contentKind("a/b.bin", "application/octet-stream")).toBe("binary");
  });
});
