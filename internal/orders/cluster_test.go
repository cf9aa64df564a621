package orders_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/shopq/shopq/internal/orders"
	"github.com/shopq/shopq/internal/store"
	"github.com/shopq/shopq/tasks"
)

// startCluster starts a three-node Redis Cluster of its own on loopback
// (redis-server from PATH) and returns a client on it.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not on PATH")
	}
	var addrs []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
		dir := t.TempDir()
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf", "--dir", dir,
			"--save", "", "--appendonly", "no")
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	for _, a := range addrs {
		require.Eventually(t, func() bool {
			c := redis.NewClient(&redis.Options{Addr: a})
			defer func() { _ = c.Close() }()
			return c.Ping(context.Background()).Err() == nil
		}, 10*time.Second, 20*time.Millisecond)
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	out, err := exec.Command("redis-cli", append(args, "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	require.NoError(t, err, string(out))

	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { _ = c.Close() })
	require.Eventually(t, func() bool {
		info, err := c.ClusterInfo(context.Background()).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	}, 15*time.Second, 50*time.Millisecond)
	return c
}

// On Redis Cluster an order's SKUs live on different nodes: the order still
// reserves all or nothing, commits, and a redelivery changes nothing.
func TestOrdersOnRedisCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startCluster(t)
	st := store.New(c, "shopqtest:", store.Lifetimes{})
	svc := orders.New(st, orders.Options{}, orders.Hooks{})
	inv := svc.Inventory()

	// Find two SKUs whose stock keys are served by different nodes.
	nodeOf := func(sku string) string {
		node, err := c.MasterForKey(ctx, st.TagKey("sku", sku, "stock"))
		require.NoError(t, err)
		return node.Options().Addr
	}
	skus := []string{"MUG-BLU"}
	for i := 0; len(skus) < 2; i++ {
		if sku := fmt.Sprintf("TEA-%d", i); nodeOf(sku) != nodeOf(skus[0]) {
			skus = append(skus, sku)
		}
	}
	for _, sku := range skus {
		_, err := inv.Set(ctx, sku, 3, 1, "")
		require.NoError(t, err)
	}
	o := tasks.OrderPlacePayload{OrderID: "ORD-C1", Email: "ann@example.test", Lines: []tasks.OrderLine{
		{LineID: "1", SKU: skus[0], Quantity: 2, UnitAmount: 100, Currency: "GBP"},
		{LineID: "2", SKU: skus[1], Quantity: 3, UnitAmount: 100, Currency: "GBP"},
	}}
	for range 2 {
		res, err := svc.Place(ctx, o)
		require.NoError(t, err)
		require.Equal(t, tasks.OrderAccepted, res.Status)
	}
	l, err := inv.Level(ctx, skus[1])
	require.NoError(t, err)
	require.Equal(t, tasks.StockLevel{SKU: skus[1], OnHand: 0, Available: 0}, l)

	// The second order's first line fits, its second does not: all or nothing.
	o2 := o
	o2.OrderID = "ORD-C2"
	o2.Lines = []tasks.OrderLine{
		{LineID: "1", SKU: skus[0], Quantity: 1, UnitAmount: 100, Currency: "GBP"},
		{LineID: "2", SKU: skus[1], Quantity: 1, UnitAmount: 100, Currency: "GBP"},
	}
	res, err := svc.Place(ctx, o2)
	require.NoError(t, err)
	require.Equal(t, tasks.OrderRefused, res.Status)
	l, err = inv.Level(ctx, skus[0])
	require.NoError(t, err)
	require.Equal(t, tasks.StockLevel{SKU: skus[0], OnHand: 1, Available: 1}, l)

	// Commit and release by operation id find the SKU through the index.
	_, err = inv.Reserve(ctx, skus[0], 1, "ORD-C3/1")
	require.NoError(t, err)
	rel, err := inv.Release(ctx, "ORD-C3/1")
	require.NoError(t, err)
	require.True(t, rel.Applied)
	for _, sku := range skus {
		d, err := inv.ReconcileSKU(ctx, sku)
		require.NoError(t, err)
		require.False(t, d.Drifted(), "%+v", d)
	}
}
