/**
 * The story of sdk_story.py, told through the generated TypeScript (fetch) client.
 *
 * tests/e2e/test_sdk.py generates the client into ./sdk beside this file,
 * compiles both with `tsc --strict`, and runs the result with Node 20+ (which
 * has fetch) against a live, seeded server:
 *
 *     node sdk_story.js BASE_URL
 */
import {
  AuthApi,
  Configuration,
  Job,
  JobsApi,
  Problem,
  ProductsApi,
  ResponseError,
} from "./sdk/src";

const DEMO_ADMIN = { email: "admin@example.com", password: "admin-demo-password" };

function check(condition: boolean, message: string): void {
  if (!condition) {
    throw new Error(message);
  }
}

/** The problem+json body of a failed call, after checking its status. */
async function problemOf(call: Promise<unknown>, status: number): Promise<Problem> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ResponseError && error.response.status === status) {
      return (await error.response.json()) as Problem;
    }
    throw error;
  }
  throw new Error(`expected a ${status} problem`);
}

/** The job, polled until its status is final (within a minute). */
async function poll(jobs: JobsApi, job: Job): Promise<Job> {
  const deadline = Date.now() + 60_000;
  while (job.status === "queued" || job.status === "running") {
    check(Date.now() < deadline, `job ${job.id} is still ${job.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    job = await jobs.getJob({ jobId: job.id });
  }
  return job;
}

async function importCatalog(admin: Configuration, catalog: ProductsApi): Promise<void> {
  const sku = `TSI-${Date.now()}`;
  const text = `sku,name,description,price_cents,stock\n${sku},Imported cup,,450,2\n`;
  const accepted = await new ProductsApi(admin).createProductImport({
    file: new Blob([text], { type: "text/csv" }),
  });
  const job = await poll(new JobsApi(admin), accepted);
  check(job.status === "succeeded", `import ${job.status}: ${job.detail}`);
  check(job.result?.created === 1 && job.errors.length === 0, "one product created");
  const found = await catalog.listProducts({ q: sku });
  check(found.items.length === 1 && found.items[0].priceCents === 450, "imported product listed");
}

async function main(basePath: string): Promise<void> {
  const anonymous = new Configuration({ basePath });
  const tokens = await new AuthApi(anonymous).login({ payload: DEMO_ADMIN });
  const admin = new Configuration({ basePath, accessToken: tokens.accessToken });
  const catalog = new ProductsApi(anonymous);

  const cheap = await catalog.listProducts({ maxPrice: 1000, sort: "-price_cents" });
  const prices = cheap.items.map((product) => product.priceCents);
  check(prices.every((price, i) => i === 0 || prices[i - 1] >= price), "sorted descending");

  const sku = `TS-${Date.now()}`;
  const created = await new ProductsApi(admin).createProduct({
    payload: { sku, name: "TypeScript mug", priceCents: 990, stock: 2 },
  });
  const fetched = await catalog.getProduct({ productId: created.id });
  check(fetched.sku === sku && fetched.createdAt instanceof Date, "read back");

  const missing = await problemOf(catalog.getProduct({ productId: 2 ** 52 }), 404);
  check(missing.status === 404, "404 problem");
  const duplicate = new ProductsApi(admin).createProduct({
    payload: { sku, name: "Same SKU", priceCents: 1 },
  });
  check((await problemOf(duplicate, 409)).status === 409, "409 problem");
  await importCatalog(admin, catalog);
  console.log("story complete");
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
