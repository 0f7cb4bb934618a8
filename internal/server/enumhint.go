package server

import (
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// badEnum is the gateway's message for a query parameter that names no
// value of its enum ("verdict=FLAGGED" for VERDICT_FLAGGED).
var badEnum = regexp.MustCompile(`^parsing field "([a-z_]+)": "(.*)" is not a valid value$`)

// enumHint adds to the gateway's refusal of a query parameter's enum
// value the values it takes, which it does not name: a new user's trial
// tried ?verdict=FLAGGED and ?minSeverity=CRITICAL and learned only that
// they were not valid. Other errors are returned as they are.
func enumHint(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	m := badEnum.FindStringSubmatch(st.Message())
	if m == nil {
		return err
	}
	values, ok := apiEnums()[m[1]]
	if !ok {
		return err
	}
	return status.Errorf(codes.InvalidArgument, "%s: want one of %s (or its number)", st.Message(), strings.Join(values, ", "))
}

// apiEnums maps the name of each enum field of the API's messages to the
// names of its enum's values, but for names that two different enums
// share.
var apiEnums = sync.OnceValue(func() map[string][]string {
	enums := map[string]protoreflect.EnumDescriptor{}
	shared := map[string]bool{}
	protoregistry.GlobalFiles.RangeFiles(func(f protoreflect.FileDescriptor) bool {
		if !strings.HasPrefix(string(f.Package()), "provenance.") {
			return true
		}
		var walk func(ms protoreflect.MessageDescriptors)
		walk = func(ms protoreflect.MessageDescriptors) {
			for i := range ms.Len() {
				md := ms.Get(i)
				for j := range md.Fields().Len() {
					fd := md.Fields().Get(j)
					if fd.Kind() != protoreflect.EnumKind {
						continue
					}
					name := string(fd.Name())
					if e, ok := enums[name]; ok && e.FullName() != fd.Enum().FullName() {
						shared[name] = true
					}
					enums[name] = fd.Enum()
				}
				walk(md.Messages())
			}
		}
		walk(f.Messages())
		return true
	})
	out := map[string][]string{}
	for name, e := range enums {
		if shared[name] {
			continue
		}
		var values []string
		for i := range e.Values().Len() {
			if v := e.Values().Get(i); v.Number() != 0 {
				values = append(values, string(v.Name()))
			}
		}
		out[name] = values
	}
	return out
})

// shortEnums is the gateway's query parser, but for an enum field's value
// given without its enum's prefix or in lower case (?verdict=FLAGGED,
// ?minSeverity=critical), which it takes as the one value whose name ends
// so (VERDICT_FLAGGED, SEVERITY_CRITICAL). A value that names one as it
// is, a number, or no value or more than one, is passed on unchanged: the
// gateway parses it, or refuses it with enumHint's list.
type shortEnums struct{ runtime.DefaultQueryParser }

func (p *shortEnums) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	var out url.Values
	for key, vs := range values {
		fd := queryField(msg.ProtoReflect().Descriptor(), key)
		if fd == nil || fd.Kind() != protoreflect.EnumKind {
			continue
		}
		for i, v := range vs {
			full, ok := enumValue(fd.Enum(), v)
			if !ok {
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

// enumValue returns the name of the value of e that v names without its
// prefix or in another case, if exactly one does and v is not already a
// name of e.
func enumValue(e protoreflect.EnumDescriptor, v string) (string, bool) {
	if v == "" || e.Values().ByName(protoreflect.Name(v)) != nil {
		return "", false
	}
	up := strings.ToUpper(v)
	found := ""
	for i := range e.Values().Len() {
		name := string(e.Values().Get(i).Name())
		if name == up || strings.HasSuffix(name, "_"+up) {
			if found != "" {
				return "", false
			}
			found = name
		}
	}
	return found, found != ""
}
