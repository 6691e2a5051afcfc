// crane-style calls on plain strings: pull, read the config, derive a tag, push it, list the tags.
//   REGISTRY=127.0.0.1:5000 node images.ts
import { fromEnvironment, images } from "berth";

const host = fromEnvironment(process.env);
const registry = process.env.REGISTRY ?? "127.0.0.1:5000";
const app = `${registry}/team/app`;

const pulled: string = await images.pull(`${app}:1`, host);
const config = JSON.parse(await images.config(`${app}:1`, host)) as { architecture: string };
console.log(`pulled ${pulled} for ${config.architecture}`);

// a new tag with an extra variable and label, pushed next to the first
await images.mutate(`${app}:1`, `${app}:2`, { env: ["MODE=production"], labels: { team: "app" } }, host);
console.log(`pushed ${await images.push(`${app}:2`, `${app}:2`, host)}`);
console.log(`tags: ${(await images.tags(app, host)).sort().join(" ")}`);
