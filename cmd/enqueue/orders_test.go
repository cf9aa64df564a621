package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/tasks"
)

func TestInventoryAndOrderCommands(t *testing.T) {
	t.Parallel()
	tk, err := inventoryCommand([]string{"reserve", "--sku", "MUG-BLU", "--quantity", "2", "--operation-id", "ORD-1/1"})
	require.NoError(t, err)
	require.Equal(t, tasks.TypeInventoryReserve, tk.Type())
	r, err := tasks.Decode[tasks.InventoryReservePayload](tk.Payload())
	require.NoError(t, err)
	require.Equal(t, tasks.InventoryReservePayload{SKU: "MUG-BLU", Quantity: 2, OperationID: "ORD-1/1"}, r)

	_, err = inventoryCommand([]string{"adjust", "--sku", "X", "--delta", "3", "--reason", "lost", "--operation-id", "a"})
	var ue usageError
	require.ErrorAs(t, err, &ue)

	tk, err = orderCommand([]string{
		"place", "--order-id", "ORD-1", "--email", "ann@example.test",
		"--line", "1:MUG:BLU:2:850", "--line", "2:TEA:1:400",
	})
	require.NoError(t, err)
	p, err := tasks.Decode[tasks.OrderPlacePayload](tk.Payload())
	require.NoError(t, err)
	require.Equal(t, []tasks.OrderLine{
		{LineID: "1", SKU: "MUG:BLU", Quantity: 2, UnitAmount: 850, Currency: "GBP"},
		{LineID: "2", SKU: "TEA", Quantity: 1, UnitAmount: 400, Currency: "GBP"},
	}, p.Lines)

	_, err = orderCommand([]string{"place", "--order-id", "O", "--email", "a@example.test", "--line", "1:X:2"})
	require.ErrorAs(t, err, &ue)
}

func TestReplayPlanFromFlags(t *testing.T) {
	t.Parallel()
	plan, rf, err := replayPlan([]string{
		"--file", "../../testdata/online-retail/online-retail-10k.csv", "--seed-stock", "100", "--dry-run",
	})
	require.NoError(t, err)
	require.True(t, rf.dryRun)
	require.Equal(t, 512, plan.Summary.Invoices)
	require.Len(t, plan.Seed, plan.Summary.SKUs)
	require.Len(t, plan.Tasks, plan.Summary.Tasks)

	_, _, err = replayPlan([]string{"--seed-stock", "1"})
	var ue usageError
	require.ErrorAs(t, err, &ue)
}
