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
  console.log("story complete");
}

main(process.argv[2]).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
