package server

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// shortEnums is the gateway's query parser, but for an enum field's value:
// given without its enum's prefix or in lower case (?verdict=FLAGGED,
// ?minSeverity=critical), it is taken as the one value whose name ends so
// (VERDICT_FLAGGED, SEVERITY_CRITICAL); naming no value, or more than
// one, it is refused with the values the field takes, which the
// gateway's own refusal does not name (a new user's trial tried
// ?verdict=FLAGGED and ?minSeverity=CRITICAL and learned only that they
// were not valid). A value's full name or number is passed on unchanged.
//
// A parameter that names no field of the request is refused, with the
// fields it takes: the gateway's parser passes over it, and so answered
// an unfiltered listing to ?holder= or ?party= (a new user's trial; the
// fields are holderPartyId and partyId).
type shortEnums struct{ runtime.DefaultQueryParser }

func (p *shortEnums) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	var out url.Values
	md := msg.ProtoReflect().Descriptor()
	for key, vs := range values {
		fd := queryField(md, key)
		if fd == nil && !filter.HasCommonPrefix(strings.Split(key, ".")) {
			return unknownParam(md, key, filter)
		}
		if fd == nil {
			continue
		}
		if err := checkScalar(fd, key, vs); err != nil {
			return err
		}
		if fd.Kind() != protoreflect.EnumKind {
			continue
		}
		for i, v := range vs {
			full, err := enumValue(fd, v)
			if err != nil {
				return err
			}
			if full == v {
				continue
			}
			if out == nil {
				out = maps.Clone(values)
			}
			out[key] = slices.Clone(out[key])
			out[key][i] = full
		}
	}
	if out == nil {
		out = values
	}
	return p.DefaultQueryParser.Parse(msg, out, filter)
}

// queryField returns the field a query parameter names: dotted names of
// fields, each its proto or JSON name; nil if none.
func queryField(md protoreflect.MessageDescriptor, key string) protoreflect.FieldDescriptor {
	var fd protoreflect.FieldDescriptor
	for i, name := range strings.Split(key, ".") {
		if i > 0 {
			if fd.Kind() != protoreflect.MessageKind {
				return nil
			}
			md = fd.Message()
		}
		if fd = md.Fields().ByTextName(name); fd == nil {
			if fd = md.Fields().ByJSONName(name); fd == nil {
				return nil
			}
		}
	}
	return fd
}

// enumValue returns what the gateway is to parse for v, a query value of
// enum field fd: v itself if it is a value's name or a number, else the
// name of the one value v names without its prefix or in another case;
// an error naming the values fd takes if none or several.
func enumValue(fd protoreflect.FieldDescriptor, v string) (string, error) {
	e := fd.Enum()
	if e.Values().ByName(protoreflect.Name(v)) != nil {
		return v, nil
	}
	if _, err := strconv.ParseInt(v, 10, 32); err == nil {
		return v, nil
	}
	up := strings.ToUpper(v)
	var found, names []string
	for i := range e.Values().Len() {
		ev := e.Values().Get(i)
		name := string(ev.Name())
		if v != "" && (name == up || strings.HasSuffix(name, "_"+up)) {
			found = append(found, name)
		}
		if ev.Number() != 0 {
			names = append(names, name)
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	return "", fmt.Errorf("parsing field %q: %q is not a valid value: want one of %s (or its number)", fd.Name(), v, strings.Join(names, ", "))
}

// unknownParam refuses query parameter key, which names no field of md,
// with the fields the query may set (those the path does not).
func unknownParam(md protoreflect.MessageDescriptor, key string, filter *utilities.DoubleArray) error {
	var names []string
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if !filter.HasCommonPrefix([]string{fd.JSONName()}) && !filter.HasCommonPrefix([]string{fd.TextName()}) {
			names = append(names, fd.JSONName())
		}
	}
	return fmt.Errorf("unknown query parameter %q: this request takes %s", key, strings.Join(names, ", "))
}

// checkScalar refuses a query value of a time or an integer field that
// the gateway's parser would refuse with Go's own words (a new user's
// trial: ?since=2026-12-01 answered `parsing time "2026-12-01" as
// "2006-01-02T15:04:05.999999999Z07:00": cannot parse "" as "T"`, and
// ?pageSize=abc `strconv.ParseInt: parsing "abc": invalid syntax`), with
// what the field takes.
func checkScalar(fd protoreflect.FieldDescriptor, key string, vs []string) error {
	for _, v := range vs {
		switch {
		// As the gateway parses them: a time with its quotes trimmed,
		// a number in any base strconv reads (base 0).
		case fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() == "google.protobuf.Timestamp":
			if _, err := time.Parse(time.RFC3339Nano, strings.Trim(v, `"`)); err != nil {
				return fmt.Errorf("%s=%q: want an RFC 3339 time such as 2026-04-01T08:00:00Z", key, v)
			}
		case fd.Kind() == protoreflect.Int32Kind:
			if _, err := strconv.ParseInt(v, 0, 32); err != nil {
				return fmt.Errorf("%s=%q: want a whole number from %d to %d", key, v, math.MinInt32, math.MaxInt32)
			}
		case fd.Kind() == protoreflect.Int64Kind:
			if _, err := strconv.ParseInt(v, 0, 64); err != nil {
				return fmt.Errorf("%s=%q: want a whole number", key, v)
			}
		case fd.Kind() == protoreflect.Uint32Kind:
			if _, err := strconv.ParseUint(v, 0, 32); err != nil {
				return fmt.Errorf("%s=%q: want a whole number from 0 to %d", key, v, uint32(math.MaxUint32))
			}
		case fd.Kind() == protoreflect.Uint64Kind:
			if _, err := strconv.ParseUint(v, 0, 64); err != nil {
				return fmt.Errorf("%s=%q: want a whole number, 0 or more", key, v)
			}
		}
	}
	return nil
}
