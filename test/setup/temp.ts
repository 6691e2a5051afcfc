import { afterAll } from "vitest";
import { removeTempDirs } from "../helpers/temp.ts";

// Registered before the test file's own hooks: `afterAll` hooks run last-registered first, so this runs last.
afterAll(removeTempDirs);
