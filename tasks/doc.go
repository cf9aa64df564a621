// Package tasks is shopq's producer API and wire contract.
//
// Every task type has a type name constant, a payload struct with snake_case
// JSON fields, a validating constructor (NewXxxTask) and per-type defaults for
// queue, retries and timeout. A producer imports only this package and asynq:
//
//	t, err := tasks.NewInventoryReserveTask(tasks.InventoryReservePayload{
//		SKU: "MUG-BLU", Quantity: 1, OperationID: "order-17/line-1",
//	})
//	if err != nil { ... }              // names the field that is wrong
//	info, err := client.Enqueue(t)
//
// Families and their queues:
//
//	catalog:*     low       feed imports and their chunks
//	prices:*      default   base price updates (latest version wins)
//	promotions:*  default   promotion upsert, cancel and transitions
//	inventory:*   critical  stock set/adjust/reserve/commit/release
//	orders:*      critical  order placement and cancellation
//	mail:*        default   customer and operator mail, once per effect key
//
// Type names are data stored in Redis: they are extended, never renamed.
package tasks
