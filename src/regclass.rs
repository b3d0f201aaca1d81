//! The `regclass` argument type of the SQL functions that take a relation.

use pgrx::prelude::*;

/// A `regclass` argument that is only an OID: the function opens (and locks) the relation
/// itself, or passes the OID on to a query.
#[derive(Debug, Clone, Copy)]
pub struct RegClass(pub pg_sys::Oid);

impl FromDatum for RegClass {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        typoid: pg_sys::Oid,
    ) -> Option<Self> {
        // SAFETY: a regclass datum is an Oid by value; the caller vouches for datum/is_null
        // as this function's own contract requires.
        unsafe { pg_sys::Oid::from_polymorphic_datum(datum, is_null, typoid) }.map(RegClass)
    }
}

impl IntoDatum for RegClass {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        self.0.into_datum()
    }
    fn type_oid() -> pg_sys::Oid {
        pg_sys::REGCLASSOID
    }
}

pgrx::impl_sql_translatable!(RegClass, "regclass");

// SAFETY: RegClass is unboxed exactly like the Oid it wraps (FromDatum above), which is what
// ArgAbi requires: the value read matches the argument's SQL type, regclass.
unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for RegClass {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: the argument is a regclass (the SQL signature pgrx generated for it).
        unsafe { arg.unbox_arg_using_from_datum() }
            .unwrap_or_else(|| panic!("argument {index} must not be null"))
    }

    unsafe fn unbox_nullable_arg(
        arg: pgrx::callconv::Arg<'_, 'fcx>,
    ) -> pgrx::nullable::Nullable<Self> {
        // SAFETY: as above; a NULL comes back as Nullable::Null.
        unsafe { arg.unbox_arg_using_from_datum() }.into()
    }
}
