package main

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
)

// Product is one article of the shop. Prices are in cents.
type Product struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Price    int64  `json:"price"`
	Category string `json:"category"`
}

// catalog is the shop's assortment: built once, read-only afterwards.
type catalog struct {
	products []Product
	byID     map[string]*Product
}

var (
	productAdjectives = []string{
		"Classic", "Cozy", "Sturdy", "Compact", "Deluxe", "Handmade",
		"Vintage", "Featherlight", "Rugged", "Elegant", "Everyday", "Pocket",
	}
	productThings = []struct{ name, category string }{
		{"Wool Socks", "Clothing"},
		{"Coffee Mug", "Kitchen"},
		{"Notebook", "Stationery"},
		{"Backpack", "Travel"},
		{"Desk Lamp", "Home"},
		{"Water Bottle", "Travel"},
		{"Teapot", "Kitchen"},
		{"Scarf", "Clothing"},
		{"Fountain Pen", "Stationery"},
		{"Throw Pillow", "Home"},
	}
)

// newCatalog generates the products deterministically: the same IDs, names
// and prices in every process, so that carts stored by one instance make
// sense to the next.
func newCatalog() *catalog {
	c := &catalog{byID: make(map[string]*Product)}
	n := 0
	for _, adj := range productAdjectives {
		for _, thing := range productThings {
			n++
			name := adj + " " + thing.name
			c.products = append(c.products, Product{
				ID:       fmt.Sprintf("p%03d", n),
				Name:     name,
				Price:    priceOf(name),
				Category: thing.category,
			})
		}
	}
	slices.SortFunc(c.products, func(a, b Product) int { return strings.Compare(a.ID, b.ID) })
	for i := range c.products {
		c.byID[c.products[i].ID] = &c.products[i]
	}
	return c
}

// priceOf derives a shop-like price (ending in 49 or 99 cents, between
// $2.49 and $149.99) from the product's name.
func priceOf(name string) int64 {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := int64(h.Sum32())
	dollars := 2 + v%148
	cents := int64(99)
	if v/148%2 == 0 {
		cents = 49
	}
	return dollars*100 + cents
}

// Product returns the product with the given ID.
func (c *catalog) Product(id string) (*Product, bool) {
	p, ok := c.byID[id]
	return p, ok
}

// All returns every product, ordered by ID. The slice must not be modified.
func (c *catalog) All() []Product { return c.products }

// Page returns the products of page (1-based) with size per page, and the
// number of pages.
func (c *catalog) Page(page, size int) ([]Product, int) {
	pages := (len(c.products) + size - 1) / size
	page = min(max(page, 1), pages)
	from := (page - 1) * size
	return c.products[from:min(from+size, len(c.products))], pages
}
