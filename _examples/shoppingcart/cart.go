package main

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sessionkit/session"
)

// Limits of a cart.
const (
	maxCartLines = 100 // distinct products
	minQuantity  = 1
	maxQuantity  = 99 // per product
)

// cartKeyPrefix starts the session key of each cart line ("cart:p001").
// Every product is its own session key, so that concurrent requests of one
// session that add different products merge instead of overwriting each
// other: the session manager merges change sets key by key.
const cartKeyPrefix = "cart:"

// cartLine is what the session holds for one product in the cart.
type cartLine struct {
	Quantity int   `json:"q"`
	Added    int64 `json:"t"` // Unix nanoseconds, orders the cart
}

// CartItem is one line of the cart as the API and the pages show it.
type CartItem struct {
	ProductID string `json:"productId"`
	Name      string `json:"name"`
	Price     int64  `json:"price"`
	Quantity  int    `json:"quantity"`
}

// Subtotal is the line's price times its quantity, in cents.
func (it CartItem) Subtotal() int64 { return it.Price * int64(it.Quantity) }

// Cart is the whole cart: its lines in the order they were added, the total
// quantity and the total price in cents.
type Cart struct {
	Items []CartItem `json:"items"`
	Count int        `json:"count"`
	Total int64      `json:"total"`
}

// cartError is a refused cart change: the HTTP status and a message for
// the user.
type cartError struct {
	status int
	msg    string
}

func (e *cartError) Error() string { return e.msg }

var (
	errUnknownProduct = &cartError{http.StatusNotFound, "unknown product"}
	errQuantity       = &cartError{http.StatusBadRequest, "quantity must be between 1 and 99"}
	errLineFull       = &cartError{http.StatusBadRequest, "at most 99 of one product per cart"}
	errCartFull       = &cartError{http.StatusConflict, "the cart holds at most 100 different products"}
)

func cartKey(productID string) string { return cartKeyPrefix + productID }

// loadCart reads the cart from the session. Lines of products that are not
// in the catalog are left out.
func (a *app) loadCart(s *session.Session) (Cart, error) {
	cart := Cart{Items: []CartItem{}}
	keys, err := s.Keys()
	if err != nil {
		return cart, err
	}
	type line struct {
		item  CartItem
		added int64
	}
	var lines []line
	for _, k := range keys {
		id, ok := strings.CutPrefix(k, cartKeyPrefix)
		if !ok {
			continue
		}
		p, ok := a.catalog.Product(id)
		if !ok {
			continue
		}
		l, ok, err := session.Get[cartLine](s, k)
		if err != nil {
			return cart, err
		}
		if !ok || l.Quantity < 1 {
			continue
		}
		lines = append(lines, line{CartItem{ProductID: id, Name: p.Name, Price: p.Price, Quantity: l.Quantity}, l.Added})
	}
	slices.SortStableFunc(lines, func(x, y line) int {
		if x.added != y.added {
			return cmp.Compare(x.added, y.added)
		}
		return strings.Compare(x.item.ProductID, y.item.ProductID)
	})
	for _, l := range lines {
		cart.Items = append(cart.Items, l.item)
		cart.Count += l.item.Quantity
		cart.Total += l.item.Subtotal()
	}
	return cart, nil
}

// cartCount returns the total quantity in the cart, for the page header.
func (a *app) cartCount(s *session.Session) (int, error) {
	c, err := a.loadCart(s)
	return c.Count, err
}

// addToCart adds qty of a product to the cart, starting a new line or
// increasing an existing one.
func (a *app) addToCart(s *session.Session, productID string, qty int) error {
	if _, ok := a.catalog.Product(productID); !ok {
		return errUnknownProduct
	}
	if qty < minQuantity || qty > maxQuantity {
		return errQuantity
	}
	key := cartKey(productID)
	l, ok, err := session.Get[cartLine](s, key)
	if err != nil {
		return err
	}
	if ok && l.Quantity > 0 {
		if l.Quantity+qty > maxQuantity {
			return errLineFull
		}
		l.Quantity += qty
		return s.Set(key, l)
	}
	n, err := cartLines(s)
	if err != nil {
		return err
	}
	if n >= maxCartLines {
		return errCartFull
	}
	return s.Set(key, cartLine{Quantity: qty, Added: time.Now().UnixNano()})
}

// setQuantity replaces the quantity of a product that is in the cart.
func (a *app) setQuantity(s *session.Session, productID string, qty int) error {
	if _, ok := a.catalog.Product(productID); !ok {
		return errUnknownProduct
	}
	if qty < minQuantity || qty > maxQuantity {
		return errQuantity
	}
	key := cartKey(productID)
	l, ok, err := session.Get[cartLine](s, key)
	if err != nil {
		return err
	}
	if !ok {
		return a.addToCart(s, productID, qty)
	}
	l.Quantity = qty
	return s.Set(key, l)
}

// removeFromCart removes a product's line. Removing a product that is not
// in the cart is not an error.
func (a *app) removeFromCart(s *session.Session, productID string) error {
	if _, ok := a.catalog.Product(productID); !ok {
		return errUnknownProduct
	}
	return s.Delete(cartKey(productID))
}

// cartLines counts the distinct products in the cart.
func cartLines(s *session.Session) (int, error) {
	keys, err := s.Keys()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if strings.HasPrefix(k, cartKeyPrefix) {
			n++
		}
	}
	return n, nil
}

// asCartError reports whether err is a refused cart change.
func asCartError(err error) (*cartError, bool) {
	var ce *cartError
	ok := errors.As(err, &ce)
	return ce, ok
}

// commit saves the session's changes now, so that a failure of the store
// is answered by the handler itself (as JSON or a page) instead of the
// middleware's error handler. Concurrent changes of one session are merged
// by the manager.
func commit(s *session.Session) error {
	return s.Commit()
}
