package tasks

func init() {
	register(catalogSpecs()...)
	register(priceSpecs()...)
	register(promotionSpecs()...)
	register(inventorySpecs()...)
	register(orderSpecs()...)
	register(mailSpecs()...)
}
