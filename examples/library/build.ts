// Build an app with berth as a library, read the image's config, then run it.
//   node build.ts [APP] [IMAGE]
// A folder with a Dockerfile is built with it; any other with Cloud Native Buildpacks and the default builder.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BerthError, build, buildDockerfile, fromEnvironment, images, run } from "berth";

// BERTH_HOME, BERTH_RUNTIME, PATH and SOURCE_DATE_EPOCH as the CLI reads them; the library reads no process.*
const host = fromEnvironment(process.env, { cwd: process.cwd() });
const app = process.argv[2] ?? ".";
const image = process.argv[3] ?? "app:latest";

try {
  const built = existsSync(join(app, "Dockerfile"))
    ? await buildDockerfile({ ...host, context: app, tags: [image] })
    : await build({ ...host, path: app, image });
  console.log(`built ${built.image} ${built.digest.slice(0, 19)} with the ${built.way} way`);
  for (const p of built.processes) console.log(`process ${p.type}: ${p.command.join(" ")}`);

  const config = JSON.parse(await images.config(image, host)) as { config?: { Env?: string[] } };
  console.log(`env: ${(config.config?.Env ?? []).join(" ")}`);

  const ran = await run(image, { ...host, onStdout: (chunk) => process.stdout.write(chunk) });
  console.log(`exited ${ran.exitCode}`);
  process.exitCode = ran.exitCode;
} catch (err) {
  if (!(err instanceof BerthError)) throw err;
  // the same sentence, hint and code as the CLI's
  console.error(`berth: ${err.message}${err.hint ? `\nhint: ${err.hint}` : ""} (${err.code})`);
  process.exitCode = 1;
}
